"""The ledger activity: the workflow sends the facts of each step, the activity writes them once.

`record_facts` is idempotent by the ledger's natural keys (see ledger/store.py): a retry after a
timeout, or after a worker was killed mid-write, writes nothing twice. The batch carries the case's
opening each time, so that a batch alone is enough to write (the first one makes the case's row).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity

from ledger.opening import CaseOpening
from ledger.store import Ledger

RECORD_FACTS = "record_facts"
# A step writes a handful of entries; a batch beyond this is refused as a mistake, not written.
MAX_BATCH_ENTRIES = 10_000


class FactsBatch(BaseModel):
    """The audit-trail entries of one case since the last batch, and the number of the first of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    opening: CaseOpening
    first_seq: int = Field(ge=0)  # the position of entries[0] in the case's timeline (0: the opening)
    entries: list[dict[str, Any]] = Field(max_length=MAX_BATCH_ENTRIES)  # TimelineEntry JSON, as the workflow holds it


class FactsRecorded(BaseModel):
    model_config = ConfigDict(frozen=True)
    # The case row and the fact rows of the batch (written now or found from an earlier attempt), and
    # the clock rows it moved (none on a retry).
    rows: int


class LedgerActivities:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def activities(self) -> list[Callable[..., Any]]:
        return [self.record_facts]

    @activity.defn(name=RECORD_FACTS)
    def record_facts(self, batch: FactsBatch) -> FactsRecorded:
        """Write one batch of facts (blocking database I/O: registered with the worker's thread pool)."""
        facts = self.ledger.record(batch.opening, batch.entries, batch.first_seq)
        return FactsRecorded(rows=facts.count())
