"""The bounded, thread-safe buffer between the workflow tasks that refuse and the thread that writes.

A workflow task must never wait on the ledger, and a flood of refused updates must not grow the
worker's memory: `offer` never blocks, and when the buffer is full the record is dropped and counted.
"""

from __future__ import annotations

import queue
import threading

from service.refusals.record import Refusal


class RefusalBuffer:
    CAPACITY = 4096  # records; each is at most a few KB (bounded ids, names and reason)

    def __init__(self, capacity: int = CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("the refusal buffer needs room for at least one record")
        self._queue: queue.Queue[Refusal] = queue.Queue(maxsize=capacity)
        self._lock = threading.Lock()
        self._dropped = 0

    def offer(self, refusal: Refusal) -> bool:
        """Keep `refusal` for the writer; False (and counted) when the buffer is full. Never blocks."""
        try:
            self._queue.put_nowait(refusal)
        except queue.Full:
            with self._lock:
                self._dropped += 1
            return False
        return True

    def take(self, limit: int, wait: float) -> list[Refusal]:
        """Up to `limit` records, waiting up to `wait` seconds for the first; [] if none came."""
        try:
            batch = [self._queue.get(timeout=wait)]
        except queue.Empty:
            return []
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def take_dropped(self) -> int:
        """How many records were dropped since the last call."""
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        return dropped

    def __len__(self) -> int:
        return self._queue.qsize()
