"""The review queue: candidate matches reviewed by one officer and decided by another."""

from kinmatch.queue.models import Finding, Item, ItemSummary, NewItem, State
from kinmatch.queue.revocations import Revocation
from kinmatch.queue.service import ReviewQueue

__all__ = ["Finding", "Item", "ItemSummary", "NewItem", "ReviewQueue", "Revocation", "State"]
