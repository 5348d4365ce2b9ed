"""Who may do what with the review queue: deny by default.

Roles come from the caller's token; an operation is allowed when one of the caller's roles
has it below. Item-level conditions are checked by the queue service on top of this table:
the item must be in the caller's jurisdiction (otherwise it reads as missing), a reviewer
sees genotypes only of the item they hold claimed, and a supervisor may not decide an item
they reviewed or escalated themselves, ever, even before a return (the two-person rule, on
the person, not the role).
"""

from __future__ import annotations

from enum import StrEnum

from kinmatch.errors import AccessDeniedError
from kinmatch.security.tokens import Caller


class Operation(StrEnum):
    PUSH = "push"
    LIST = "list"
    SHOW = "show"
    CLAIM = "claim"
    RELEASE = "release"
    REVIEW = "review"
    ESCALATE = "escalate"
    CONFIRM = "confirm"
    REJECT = "reject"
    RETURN = "return"
    AUDIT = "audit"
    VERIFY_AUDIT = "verify-audit"
    CHECKPOINT = "checkpoint"
    CHECKPOINTS = "checkpoints"
    REVOKE = "revoke"
    SUBMIT = "submit"
    WITHDRAW = "withdraw"


POLICY: dict[Operation, frozenset[str]] = {
    Operation.PUSH: frozenset({"analyst"}),
    Operation.LIST: frozenset({"analyst", "reviewer", "supervisor"}),
    Operation.SHOW: frozenset({"reviewer", "supervisor"}),  # reviewer: own claim only
    Operation.CLAIM: frozenset({"reviewer"}),
    Operation.RELEASE: frozenset({"reviewer"}),
    Operation.REVIEW: frozenset({"reviewer"}),
    Operation.ESCALATE: frozenset({"reviewer"}),
    Operation.CONFIRM: frozenset({"supervisor"}),
    Operation.REJECT: frozenset({"supervisor"}),
    Operation.RETURN: frozenset({"supervisor"}),
    Operation.AUDIT: frozenset({"auditor"}),
    Operation.VERIFY_AUDIT: frozenset({"auditor"}),
    Operation.CHECKPOINT: frozenset({"auditor"}),  # sign the audit head now
    Operation.CHECKPOINTS: frozenset({"auditor"}),  # export the signed checkpoints
    Operation.REVOKE: frozenset({"supervisor"}),  # tokens of their own agency, unless national
    Operation.SUBMIT: frozenset({"analyst"}),  # a batch of profiles for their own agency
    Operation.WITHDRAW: frozenset({"supervisor"}),  # a sample of their agency, unless national
}


def allowed_roles(caller: Caller, operation: Operation) -> frozenset[str]:
    """The caller's roles that allow ``operation`` (empty: refused)."""
    return caller.roles & POLICY.get(operation, frozenset())


def require(caller: Caller, operation: Operation) -> None:
    """Raise :class:`AccessDeniedError` unless one of the caller's roles allows it."""
    if not allowed_roles(caller, operation):
        raise AccessDeniedError(f"{operation.value}: not allowed for roles "
                               f"{', '.join(sorted(caller.roles))}")  # fmt: skip


def role_names(caller: Caller | None, operation: Operation | str | None = None) -> str:
    """The caller's roles that allowed ``operation`` (all roles when none given), as the audit
    log records them: sorted, comma-separated."""
    if caller is None:
        return ""
    if isinstance(operation, Operation):
        allowing = allowed_roles(caller, operation)
        if allowing:
            return ",".join(sorted(allowing))
    return ",".join(sorted(caller.roles))
