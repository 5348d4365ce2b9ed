"""Who meets whom: which stored profiles a query meets, by default the opposite set of a
missing-children database (see :mod:`kinmatch.search`), and the roles each takes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from kinmatch.profiles import Profile
from kinmatch.store import ROLE_CODES, Fragment

PARENT_ROLES = ("father", "mother", "parent")
RELATIVE_ROLES = ("father", "mother", "parent", "sibling", "other")
UNKNOWN_ORIGIN = "unknown-origin"


def query_roles(query: Profile, relationship: str) -> tuple[str, str]:
    """The query's role and the stored reference's role in a single-reference search: a
    person of ``unknown-origin`` (or without a role) takes the younger one (``child``,
    ``person2``), a registered relative the older."""
    young = query.role in (None, UNKNOWN_ORIGIN)
    if relationship == "parent-child":
        return ("child", "parent") if young else ("parent", "child")
    return ("person2", "person1") if young else ("person1", "person2")


def couples_among(
    queries: Sequence[Profile],
) -> tuple[list[tuple[Profile, Profile]], list[Profile]]:
    """Registered fathers and mothers sharing a case_id form couple queries (a couple searching
    for its child, :meth:`~kinmatch.search.Searcher.search_couple`); the rest stay single (a
    lone registered parent then gets a per-query error from the search)."""
    by_case: dict[str, dict[str, Profile]] = {}
    for query in queries:
        if query.role in ("father", "mother") and query.case_id:
            by_case.setdefault(query.case_id, {})[query.role] = query
    couples = [(pair["father"], pair["mother"]) for pair in by_case.values() if len(pair) == 2]
    paired = {p.sample_id for couple in couples for p in couple}
    return couples, [q for q in queries if q.sample_id not in paired]


def selected_rows(
    fragment: Fragment, targets: Sequence[str] | None, exclude: set[str]
) -> NDArray[np.bool_]:
    """The rows of ``fragment`` whose role is among ``targets`` (None: every row), less the
    samples in ``exclude`` and the withdrawn ones."""
    if targets is None:
        selected = np.ones(fragment.rows, dtype=bool)
    else:
        codes = [ROLE_CODES[role] for role in targets]
        selected = np.isin(fragment.roles, np.array(codes, dtype=np.uint8))
    selected[fragment.withdrawn] = False
    exclude_samples(fragment, exclude, selected)
    return selected


def exclude_samples(fragment: Fragment, sample_ids: set[str], selected: NDArray[np.bool_]) -> None:
    """Clear the rows of ``sample_ids`` in ``selected``."""
    for sample_id in sample_ids:
        row = fragment.find(sample_id)
        if row is not None:
            selected[row] = False
