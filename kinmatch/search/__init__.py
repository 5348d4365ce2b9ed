"""Search a reference store for the relatives of a query profile.

``Searcher.search(query, relationship)`` builds the query's score tables with the exact core
(:mod:`kinmatch.tables`), scans the memory-mapped store with a Numba kernel
(:mod:`kinmatch.kernels.scan`), keeps the hits at or above ``min_lr`` and/or the ``top_k``
best (ties broken by sample ID); each hit's details (per-locus LRs, compared and
inconsistent loci, verdict) are read from the same tables (:mod:`kinmatch.search.details`),
and the core's :func:`kinmatch.likelihood.kinship_lr` gives its breakdown when asked for.

Which stored profiles a query meets, by default the opposite set of a missing-children
database:

* a person of ``unknown-origin`` (or without a role) meets the parent roles ``father``,
  ``mother``, ``parent`` for ``parent-child``, the registered couples (the ``father`` and
  ``mother`` of one ``case_id``) for ``parents-child``, and every registered relative
  (``father``, ``mother``, ``parent``, ``sibling``, ``other``) for the pairwise
  relationships, where it takes the younger role (``person2``: grandchild, nephew);
* a registered relative, or a couple, meets the persons of ``unknown-origin``.

``search_all=True`` meets every profile but the query itself.

The package: :mod:`~kinmatch.search.searcher` (the :class:`Searcher`),
:mod:`~kinmatch.search.ranking` (the hits from the scores), :mod:`~kinmatch.search.details`
(their details from the tables), :mod:`~kinmatch.search.roles` (who meets whom) and
:mod:`~kinmatch.search.couples` (the registered couples); the hits themselves are
:mod:`kinmatch.hits`.
"""

from kinmatch.hits import HIT_SCHEMA, Hit, SearchResult, results_to_arrow
from kinmatch.relationships import SEARCHABLE
from kinmatch.search.roles import (
    PARENT_ROLES,
    RELATIVE_ROLES,
    UNKNOWN_ORIGIN,
    couples_among,
    query_roles,
)
from kinmatch.search.searcher import Searcher

__all__ = [
    "HIT_SCHEMA",
    "PARENT_ROLES",
    "RELATIVE_ROLES",
    "SEARCHABLE",
    "UNKNOWN_ORIGIN",
    "Hit",
    "SearchResult",
    "Searcher",
    "couples_among",
    "query_roles",
    "results_to_arrow",
]
