"""Kinship hypotheses: each relationship is a pair of pedigrees, H1 (related) vs H2.

Typed persons carry the role names of the cases file (``child``, ``parent``, ``mother``,
``father``, ``person1``, ``person2``); the other members are untyped. Conventions follow
Familias and forrel so that results can be compared:

* ``parent-child`` (duo): H1 the parent and an untyped mate are the child's parents; the
  parent's sex (from the profile, default male) picks the paternal or maternal matrix.
  H2 unrelated.
* ``paternity-trio``: H1 the alleged father (``parent``) and ``mother`` are the child's
  parents; H2 the mother stays the mother, the true father is an untyped unrelated man and
  the alleged father is unrelated.
* ``parents-child``: H1 ``father`` and ``mother`` are the child's parents; H2 all three are
  unrelated.
* ``full-siblings``: H1 both children of one untyped couple.
* ``half-siblings``: H1 they share their (untyped) father; their mothers are different.
* ``grandparent``: H1 person1 is person2's paternal grandfather.
* ``avuncular``: H1 person1 is the full brother of person2's (untyped) father.
* ``first-cousins``: H1 their (untyped) fathers are full brothers.

``person2`` (``child`` in the parentage forms, the alleged father ``parent`` in the trio) is
the **person of interest** (POI), the one who may be the missing member: a person of unknown
origin in a search (:mod:`kinmatch.search.roles`). H2 is forrel's ``missingPersonLR`` H2: the
POI is an unrelated founder and the typed relatives keep the pedigree H1 gives them, so that
every relationship is the family of :mod:`kinmatch.family_lr` it describes. For the pairwise
forms H2 is person1 as the child of their untyped ancestors of H1 and person2 unrelated; where
person1 is a founder of H1 (the grandparent) that is two unrelated founders, forrel's
``kinshipLR`` H2. Under a non-stationary mutation model the two H2 differ for a person1 with
untyped parents (their meioses change person1's own genotype probability), so swapping
person1 and person2 changes the LR there; without mutation, or stationary at theta 0, they
are equal. A locus where the POI is untyped has LR 1 exactly: the relatives' pedigree is the
same under both hypotheses.
"""

from __future__ import annotations

from dataclasses import dataclass

from kinmatch.errors import CaseError
from kinmatch.pedigree import Pedigree, Person


@dataclass(frozen=True)
class Relationship:
    """A named hypothesis pair.

    ``roles`` are the typed persons; a locus is compared only when every role in
    ``required`` is typed there and, for couples, at least one of ``any_of``.
    """

    name: str
    roles: tuple[str, ...]
    required: tuple[str, ...]
    any_of: tuple[str, ...] = ()
    parentage: bool = False
    transmitter: str | None = None
    """Role whose profile sex picks the matrix (duo); other pedigrees fix sexes."""
    poi: str = "person2"
    """The person of interest's role (module docstring)."""

    def pedigrees(self, transmitter_sex: str = "M") -> tuple[Pedigree, Pedigree]:
        """``(H1, H2)`` pedigrees; ``transmitter_sex`` only matters for the duo."""
        return _PEDIGREES[self.name](transmitter_sex)


def _founders(*names: str) -> tuple[Person, ...]:
    return tuple(Person(name, "M") for name in names)


def _duo(sex: str) -> tuple[Pedigree, Pedigree]:
    mate = Person("mate", "F" if sex == "M" else "M")
    parent = Person("parent", sex)
    father, mother = (parent, mate) if sex == "M" else (mate, parent)
    h1 = Pedigree((parent, mate, Person("child", "M", father.name, mother.name)))
    return h1, Pedigree(_founders("parent", "child"))


def _trio(_: str) -> tuple[Pedigree, Pedigree]:
    parent, mother = Person("parent", "M"), Person("mother", "F")
    h1 = Pedigree((parent, mother, Person("child", "M", "parent", "mother")))
    h2 = Pedigree(
        (parent, Person("true_father", "M"), mother,
         Person("child", "M", "true_father", "mother"))
    )  # fmt: skip
    return h1, h2


def _couple(_: str) -> tuple[Pedigree, Pedigree]:
    father, mother = Person("father", "M"), Person("mother", "F")
    h1 = Pedigree((father, mother, Person("child", "M", "father", "mother")))
    return h1, Pedigree((father, mother, Person("child", "M")))


def _poi_unrelated(h1: Pedigree) -> Pedigree:
    """H2 of a pairwise form: person1 with their ancestors of ``h1``, person2 a founder."""
    sex = next(person.sex for person in h1.persons if person.name == "person2")
    return Pedigree((*h1.ancestral(["person1"]).persons, Person("person2", sex)))


def _full_siblings(_: str) -> tuple[Pedigree, Pedigree]:
    h1 = Pedigree(
        (Person("father", "M"), Person("mother", "F"),
         Person("person1", "M", "father", "mother"), Person("person2", "M", "father", "mother"))
    )  # fmt: skip
    return h1, _poi_unrelated(h1)


def _half_siblings(_: str) -> tuple[Pedigree, Pedigree]:
    h1 = Pedigree(
        (Person("father", "M"), Person("mother1", "F"), Person("mother2", "F"),
         Person("person1", "M", "father", "mother1"), Person("person2", "M", "father", "mother2"))
    )  # fmt: skip
    return h1, _poi_unrelated(h1)


def _grandparent(_: str) -> tuple[Pedigree, Pedigree]:
    h1 = Pedigree(
        (Person("person1", "M"), Person("grandmother", "F"),
         Person("father", "M", "person1", "grandmother"), Person("mother", "F"),
         Person("person2", "M", "father", "mother"))
    )  # fmt: skip
    return h1, _poi_unrelated(h1)


def _avuncular(_: str) -> tuple[Pedigree, Pedigree]:
    h1 = Pedigree(
        (Person("grandfather", "M"), Person("grandmother", "F"),
         Person("father", "M", "grandfather", "grandmother"),
         Person("person1", "M", "grandfather", "grandmother"),
         Person("mother", "F"), Person("person2", "M", "father", "mother"))
    )  # fmt: skip
    return h1, _poi_unrelated(h1)


def _first_cousins(_: str) -> tuple[Pedigree, Pedigree]:
    h1 = Pedigree(
        (Person("grandfather", "M"), Person("grandmother", "F"),
         Person("father1", "M", "grandfather", "grandmother"),
         Person("father2", "M", "grandfather", "grandmother"),
         Person("mother1", "F"), Person("mother2", "F"),
         Person("person1", "M", "father1", "mother1"),
         Person("person2", "M", "father2", "mother2"))
    )  # fmt: skip
    return h1, _poi_unrelated(h1)


_PEDIGREES = {
    "parent-child": _duo,
    "paternity-trio": _trio,
    "parents-child": _couple,
    "full-siblings": _full_siblings,
    "half-siblings": _half_siblings,
    "grandparent": _grandparent,
    "avuncular": _avuncular,
    "first-cousins": _first_cousins,
}

_PAIR = ("person1", "person2")
RELATIONSHIPS: dict[str, Relationship] = {
    r.name: r
    for r in (
        Relationship("parent-child", ("child", "parent"), ("child", "parent"),
                     parentage=True, transmitter="parent", poi="child"),
        Relationship("paternity-trio", ("child", "parent", "mother"), ("child", "parent"),
                     parentage=True, poi="parent"),
        Relationship("parents-child", ("child", "father", "mother"), ("child",),
                     any_of=("father", "mother"), parentage=True, poi="child"),
        *(Relationship(name, _PAIR, _PAIR) for name in
          ("full-siblings", "half-siblings", "grandparent", "avuncular", "first-cousins")),
    )
}  # fmt: skip


def get_relationship(name: str) -> Relationship:
    """The relationship called ``name``; :class:`CaseError` lists the valid names."""
    try:
        return RELATIONSHIPS[name]
    except KeyError:
        raise CaseError(
            f"unknown relationship {name!r}: one of {', '.join(RELATIONSHIPS)}",
            field="relationship",
        ) from None


SEARCHABLE = ("parent-child", "parents-child", "full-siblings", "half-siblings",
              "grandparent", "avuncular", "first-cousins")  # fmt: skip
"""The relationships the search engine scans a store for (one free role, or a child against
couples)."""
