"""The refusal log: updates refused by their validator, written to the ledger's `refusals` table.

Temporal keeps no trace of an update its validator refuses (by design: nothing enters the history),
yet compliance must see who tried what, when and why. The worker's interceptor (`interceptor`) notes
each refusal in a bounded buffer (`buffer`) without ever blocking a workflow task; a thread
(`writer`) drains it into the ledger in batches. A record holds names, the reason and the data's
digest and size (`record`), never the data. Reference: docs/ledger.md, docs/audit.md.
"""

from __future__ import annotations

from service.refusals.buffer import RefusalBuffer
from service.refusals.interceptor import RefusalLogInterceptor
from service.refusals.record import Refusal, refusal_of
from service.refusals.writer import RefusalWriter

__all__ = ["Refusal", "RefusalBuffer", "RefusalLog", "RefusalLogInterceptor", "RefusalWriter", "refusal_of"]


class RefusalLog:
    """The buffer, the worker interceptor that fills it and the thread that writes it to `database_url`."""

    def __init__(self, database_url: str, capacity: int = RefusalBuffer.CAPACITY) -> None:
        self.buffer = RefusalBuffer(capacity)
        self.interceptor = RefusalLogInterceptor(self.buffer)
        self.writer = RefusalWriter(self.buffer, database_url)

    def start(self) -> RefusalLog:
        """Start writing (the thread flushes what is left when the process exits); returns self."""
        self.writer.start()
        return self

    def stop(self) -> None:
        self.writer.stop()
