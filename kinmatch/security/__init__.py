"""Callers, token verification, the access policy and the hash-chained audit log."""

from kinmatch.security.audit import AuditRecord, AuditVerification, verify_chain
from kinmatch.security.policy import POLICY, Operation
from kinmatch.security.tokens import NATIONAL, ROLES, Caller, TokenVerifier, TrustStore

__all__ = ["NATIONAL", "POLICY", "ROLES", "AuditRecord", "AuditVerification", "Caller",
           "Operation", "TokenVerifier", "TrustStore", "verify_chain"]  # fmt: skip
