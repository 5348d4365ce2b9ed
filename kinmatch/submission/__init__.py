"""Submission of profiles over HTTP: an analyst's batch committed to the store once per
idempotency key (:mod:`kinmatch.submission.service`), read from JSON or CSV
(:mod:`kinmatch.submission.batch`), compared by the server after its commit
(:mod:`kinmatch.submission.comparing`) and served beside the review queue
(:mod:`kinmatch.submission.http`). It lives outside :mod:`kinmatch.queue`, which never imports
the search."""

from kinmatch.submission.service import Submissions, Submitted

__all__ = ["Submissions", "Submitted"]
