"""Withdrawal of profiles: out of the store (a tombstone, then compaction when erased) and
their review items closed, one recoverable sequence (:mod:`kinmatch.withdrawal.service`),
served beside the review queue (:mod:`kinmatch.withdrawal.http`). It lives outside
:mod:`kinmatch.queue`, which never imports the store."""

from kinmatch.withdrawal.service import WithdrawalDone, WithdrawalRequest, Withdrawals

__all__ = ["WithdrawalDone", "WithdrawalRequest", "Withdrawals"]
