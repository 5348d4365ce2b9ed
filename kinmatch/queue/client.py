"""Pushing review items into a queue: straight into its database, or to a ``kinmatch serve``
over HTTP(S)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kinmatch.errors import QueueError
from kinmatch.queue.models import NewItem
from kinmatch.queue.service import ReviewQueue
from kinmatch.security.trust import TrustStore


def push_hits(
    target: str, trust: Path | None, token: str, items: list[NewItem], key: Path | None = None
) -> tuple[int, int]:
    """Push review items to a queue database (with its ``trust`` file or directory and its
    ``key``, :mod:`kinmatch.queue.anchor`) or to a ``kinmatch serve`` at an ``http(s)://``
    URL; returns (added, already queued)."""
    if target.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        body = json.dumps({"items": [item_json(item) for item in items]}).encode("utf-8")
        request = urllib.request.Request(
            target.rstrip("/") + "/items", data=body, method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                pushed = json.loads(response.read())["items"]
        except urllib.error.HTTPError as exc:
            answer = exc.read().decode("utf-8", "replace")[:200]
            raise QueueError(f"queue server refused the push: HTTP {exc.code} {answer}") from None
        except (OSError, ValueError, KeyError) as exc:
            raise QueueError(f"cannot push to {target}: {type(exc).__name__}") from None
        added = sum(1 for entry in pushed if entry["created"])
        return added, len(pushed) - added
    if trust is None:
        raise QueueError("pushing into a queue database needs --trust FILE")
    queue = ReviewQueue(target, TrustStore.load(trust), key=key)
    try:
        result = queue.push(token, items)
    finally:
        queue.close()
    added = sum(1 for _, new in result if new)
    return added, len(result) - added


def item_json(item: NewItem) -> dict[str, Any]:
    """The JSON form of an item, as ``POST /items`` and ``kinmatch queue push`` take it."""
    data = asdict(item)
    data["loci"] = [dict(x) for x in item.loci]
    data["parameters"] = dict(item.parameters)
    return data
