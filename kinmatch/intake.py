"""Intake: every new profile compared on entry with every stored profile it should meet.

A store version v (one ingested batch) is compared by :func:`compare_version` with the roles
of today's search (:mod:`kinmatch.search.roles`), on the store as it was when v was committed
(:meth:`~kinmatch.store.ReferenceStore.as_of`), so that each pair of opposite kinds is compared
in the version of its newer profile and in no other (:mod:`kinmatch.ledger`):

* the persons of unknown origin of v against every registered relative and couple of the
  store as of v (those of v included: new against new);
* the registered relatives of v against the persons of unknown origin of earlier versions;
* the couples v completes or brings (a father and a mother sharing a ``case_id``, at least one
  of them of v) against the persons of unknown origin of earlier versions.

Every hit at or above ``min_lr`` is kept (no ``top_k``), with its database-size-aware
evidence, as a review item (:class:`~kinmatch.queue.models.NewItem`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies
from kinmatch.hits import SearchResult
from kinmatch.ledger import Comparison, Ledger
from kinmatch.likelihood import NO_MUTATION
from kinmatch.mutation import MutationModel
from kinmatch.profiles import Profile
from kinmatch.queue.client import item_json
from kinmatch.queue.models import NewItem
from kinmatch.search import Searcher
from kinmatch.search.couples import find_couples
from kinmatch.search.roles import PARENT_ROLES, RELATIVE_ROLES, UNKNOWN_ORIGIN
from kinmatch.store import ReferenceStore
from kinmatch.verdict import DEFAULT_CAUTION_BOUND

DEFAULT_RELATIONSHIPS = ("parent-child", "parents-child")


@dataclass(frozen=True)
class IntakeSettings:
    """The search parameters of an intake (the ledger's :class:`Comparison` adds the
    frequency table's SHA-256)."""

    frequencies: AlleleFrequencies
    frequencies_sha256: str
    relationships: tuple[str, ...] = DEFAULT_RELATIONSHIPS
    theta: float = 0.0
    mutation: MutationModel = NO_MUTATION
    min_frequency: float = DEFAULT_MIN_FREQUENCY
    max_inconsistent: int = 2
    min_lr: float = 10_000.0
    one_sided_exact: bool = True
    caution_bound: float = DEFAULT_CAUTION_BOUND
    unknown_agency: str | None = None
    """The agency a review item gives a profile stored without one (the pusher's)."""

    def searcher(self, store: ReferenceStore) -> Searcher:
        return Searcher(store, self.frequencies, theta=self.theta, mutation=self.mutation,
                        min_frequency=self.min_frequency, max_inconsistent=self.max_inconsistent,
                        one_sided_exact=self.one_sided_exact)  # fmt: skip

    def comparison(self, parameters: dict[str, Any]) -> Comparison:
        return Comparison(tuple(sorted(set(self.relationships))), self.frequencies_sha256,
                          parameters, self.max_inconsistent, self.min_lr)  # fmt: skip


@dataclass(frozen=True)
class VersionResult:
    """A compared version: its review items (JSON form), comparisons made and the profiles
    that could not be compared, with why (no genotype is quoted)."""

    version: int
    items: tuple[dict[str, Any], ...]
    comparisons: int
    errors: tuple[tuple[str, str], ...]


def version_profiles(store: ReferenceStore, version: int) -> list[Profile]:
    """The profiles committed by ``version`` and not withdrawn since."""
    return [store.decode(fragment, row) for fragment in store.fragments
            if fragment.info.generation == version
            for row in fragment.live_rows().tolist()]  # fmt: skip


def _young(profile: Profile) -> bool:
    return profile.role in (None, UNKNOWN_ORIGIN)


def compare_version(store: ReferenceStore, version: int, settings: IntakeSettings) -> VersionResult:
    """The comparisons of ``version`` (module docstring) and their review items."""
    now, before = store.as_of(version), store.as_of(version - 1)
    new = version_profiles(store, version)
    young = [p for p in new if _young(p)]
    current, earlier = settings.searcher(now), settings.searcher(before)
    found: list[tuple[Searcher, SearchResult, tuple[Profile, Profile] | None]] = []
    min_lr = settings.min_lr
    for relationship in settings.relationships:
        results = current.search_batch(young, relationship, top_k=None, min_lr=min_lr)
        found += [(current, r, None) for r in results]
        if len(before) == 0:
            continue
        if relationship == "parents-child":
            for father, mother in _new_couples(now, {p.sample_id for p in new}):
                result = earlier.search_couple(father, mother, top_k=None, min_lr=min_lr)
                found.append((earlier, result, (father, mother)))
            continue
        roles = PARENT_ROLES if relationship == "parent-child" else RELATIVE_ROLES
        relatives = [p for p in new if p.role in roles]
        results = earlier.search_batch(relatives, relationship, top_k=None, min_lr=min_lr)
        found += [(earlier, r, None) for r in results]
    items: list[dict[str, Any]] = []
    errors: list[tuple[str, str]] = []
    for searcher, result, couple in found:
        if result.error:
            errors.append((result.query_id, str(result.error)))
            continue
        for item in review_items(searcher, result, version, settings):
            if couple is not None:  # the couple searched: name its parents, as a child's hit
                item = dataclasses.replace(item, father_id=couple[0].sample_id,
                                           mother_id=couple[1].sample_id)  # fmt: skip
            items.append(item_json(item))
    comparisons = sum(result.n_scored for _, result, _ in found)
    return VersionResult(version, tuple(items), comparisons, tuple(errors))


def review_items(
    searcher: Searcher, result: SearchResult, version: int, settings: IntakeSettings
) -> list[NewItem]:
    """The review items of ``result``'s hits, each with its database-size-aware evidence."""
    evidence = searcher.evidence(result, bound=settings.caution_bound)
    return [NewItem.from_hit(hit, searcher.parameters, str(version), evidence=e,
                             unknown_agency=settings.unknown_agency)
            for hit, e in zip(result.hits, evidence, strict=True)]  # fmt: skip


def withdrawn_since(store: ReferenceStore) -> Callable[[NewItem, int], bool]:
    """Whether a person of an item compared in a version was withdrawn after it (the item is
    then never pushed: the review queue closed the person's items at the withdrawal, and this
    one must not open again)."""
    latest: dict[str, int] = {}
    for tombstone in store.manifest.withdrawn:
        latest[tombstone.sample_id] = max(latest.get(tombstone.sample_id, 0), tombstone.generation)

    def since(item: NewItem, version: int) -> bool:
        persons = (item.query_id, *item.reference_ids, item.father_id, item.mother_id)
        return any(latest.get(person or "", 0) > version for person in persons)

    return since


def push_current(
    store: ReferenceStore, push: Pusher, items: list[NewItem], version: int
) -> tuple[int, int]:
    """``push`` the items compared in ``version`` but those of a person withdrawn since, under
    the store's shared withdrawing lock (:meth:`~kinmatch.store.ReferenceStore.withdrawing`);
    (added, already queued)."""
    with store.withdrawing(exclusive=False):
        store.refresh()
        withdrawn = withdrawn_since(store)
        items = [item for item in items if not withdrawn(item, version)]
        return push(items) if items else (0, 0)


def _new_couples(store: ReferenceStore, new_ids: set[str]) -> list[tuple[Profile, Profile]]:
    """The couples of ``store`` with at least one parent among ``new_ids``."""
    couples = find_couples(store)
    fragments = store.fragments
    found = []
    for father_id, mother_id, (father, mother) in zip(
        couples.father_ids, couples.mother_ids, couples.rows, strict=True
    ):
        if father_id in new_ids or mother_id in new_ids:
            found.append((store.decode(fragments[father[0]], father[1]),
                          store.decode(fragments[mother[0]], mother[1])))  # fmt: skip
    return found


@dataclass(frozen=True)
class IntakeSummary:
    """What one run compared and pushed."""

    compared: tuple[VersionResult, ...]
    pushed_versions: tuple[int, ...]
    added: int
    already_queued: int
    compare_seconds: float
    push_seconds: float


Pusher = Callable[[list[NewItem]], tuple[int, int]]
"""Sends items to the review queue; returns (added, already queued)."""


def run_outstanding(
    store: ReferenceStore,
    settings: IntakeSettings,
    push: Pusher | None = None,
    progress: Callable[[int], None] | None = None,
) -> IntakeSummary:
    """Compare every version the ledger shows outstanding under ``settings``, recording each
    as it finishes, then push every compared version's items not yet pushed (with ``push``)."""
    started = time.monotonic()
    compared = compare_outstanding(store, settings, progress)
    compared_at = time.monotonic()
    pushed, added, known = push_compared(store, settings, lambda version: push)
    return IntakeSummary(compared, pushed, added, known, compared_at - started,
                         time.monotonic() - compared_at)  # fmt: skip


def compare_outstanding(
    store: ReferenceStore, settings: IntakeSettings, progress: Callable[[int], None] | None = None
) -> tuple[VersionResult, ...]:
    """Compare every version outstanding under ``settings`` (``progress(version)`` after
    each), recording each in the ledger as it finishes; the versions this call compared."""
    store.refresh()
    compared = []
    with Ledger(store.path) as ledger:
        key = ledger.register(settings.comparison(settings.searcher(store).parameters))
        with ledger.comparing():
            for version in ledger.outstanding(key, store.generation):
                store.refresh()
                result = compare_version(store, version, settings)
                with store.withdrawing(exclusive=False):  # nothing withdrawn meanwhile
                    store.refresh()
                    withdrawn = withdrawn_since(store)
                    kept = tuple(i for i in result.items
                                 if not withdrawn(NewItem.from_dict(i), version))  # fmt: skip
                    result = dataclasses.replace(result, items=kept)
                    if ledger.record_compared(key, version, result.items, result.comparisons,
                                              result.errors):  # fmt: skip
                        compared.append(result)
                if progress is not None:
                    progress(version)
    return tuple(compared)


def push_compared(
    store: ReferenceStore, settings: IntakeSettings, pusher_of: Callable[[int], Pusher | None]
) -> tuple[tuple[int, ...], int, int]:
    """Push the items of every version compared under ``settings`` and not yet pushed, each
    with ``pusher_of(version)`` (None: leave it for another pusher), recording each version
    once pushed; (the versions pushed, items added, items already queued)."""
    pushed, added, known = [], 0, 0
    with Ledger(store.path) as ledger:
        key = ledger.register(settings.comparison(settings.searcher(store).parameters))
        for version in ledger.unpushed(key):
            push = pusher_of(version)
            if push is None:
                continue
            items = [NewItem.from_dict(item) for item in ledger.items(key, version)]
            new, old = push_current(store, push, items, version)
            added, known = added + new, known + old
            ledger.record_pushed(key, version)
            pushed.append(version)
    return tuple(pushed), added, known
