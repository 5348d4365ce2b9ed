"""Decision rules: ``support``, ``exclusion`` or ``inconclusive`` beside every number.

Parentage (``parent-child``, ``paternity-trio``, ``parents-child``) follows our reading of
the Chinese paternity-testing standard GB/T 37223-2018 (its text was not available to us;
the reading is the one its summaries in the literature give): parentage is **excluded** when
three or more loci are inconsistent with it (Mendelian exclusions, counted without a mutation
model) or when the combined paternity index is below 1e-4; it is **supported** when the
combined index reaches 10,000; anything in between calls for more loci (**inconclusive**).

Siblings and more distant relatives have no Mendelian exclusions; they are judged on the LR
alone: support at LR >= 10,000, exclusion at LR <= 1e-4. All thresholds are configurable.
"""

from __future__ import annotations

from dataclasses import dataclass

SUPPORT = "support"
EXCLUSION = "exclusion"
INCONCLUSIVE = "inconclusive"
VERDICTS = (SUPPORT, EXCLUSION, INCONCLUSIVE)
SUPPORT_DATABASE_CAUTION = "support-database-caution"
"""A ``support`` qualified by the database's size: at least :data:`DEFAULT_CAUTION_BOUND`
unrelated references (or couples) are expected to score as high (:mod:`kinmatch.evidence`)."""
DEFAULT_CAUTION_BOUND = 0.01
"""``expected_unrelated`` at or above which a ``support`` hit gets the caution qualifier."""


@dataclass(frozen=True)
class VerdictRule:
    """Thresholds of the verdict; the defaults are the GB/T 37223-2018 reading above."""

    support_lr: float = 1e4
    exclusion_lr: float = 1e-4
    exclusion_inconsistent_loci: int = 3

    def verdict(self, lr: float, *, parentage: bool, n_inconsistent: int = 0) -> str:
        """The verdict for a combined ``lr``; ``n_inconsistent`` counts only for parentage."""
        if parentage:
            if n_inconsistent >= self.exclusion_inconsistent_loci or lr < self.exclusion_lr:
                return EXCLUSION
            return SUPPORT if lr >= self.support_lr else INCONCLUSIVE
        if lr >= self.support_lr:
            return SUPPORT
        return EXCLUSION if lr <= self.exclusion_lr else INCONCLUSIVE
