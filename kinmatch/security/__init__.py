"""Callers, token verification, the trust file, the access policy and the hash-chained audit
log."""

from kinmatch.security.audit import AuditRecord, AuditVerification, verify_chain
from kinmatch.security.policy import POLICY, Operation
from kinmatch.security.tokens import ROLES, Caller, TokenVerifier
from kinmatch.security.trust import NATIONAL, TrustStore

__all__ = ["NATIONAL", "POLICY", "ROLES", "AuditRecord", "AuditVerification", "Caller",
           "Operation", "TokenVerifier", "TrustStore", "verify_chain"]  # fmt: skip
