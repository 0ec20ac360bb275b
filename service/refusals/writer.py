"""The thread that drains the refusal buffer into the ledger's `refusals` table, in batches.

It brings the ledger's schema up to date before its first write, retries a batch the database did
not take (new records meanwhile wait in the buffer, bounded, or are dropped and counted), says how
many records were dropped at most once a minute, and writes what is left when the process exits.
"""

from __future__ import annotations

import atexit
import threading
import time

import structlog
from sqlalchemy.exc import SQLAlchemyError

from ledger.store import Ledger
from ledger.urls import DatabaseUrlError
from service.refusals.buffer import RefusalBuffer
from service.refusals.record import Refusal

log = structlog.get_logger("aftersales.refusals")

BATCH = 500  # records per transaction
WAIT_SECONDS = 0.5  # how long the thread waits for a first record before looking at its stop flag
RETRY_SECONDS = 5.0  # after a write the database refused
DROPS_REPORT_SECONDS = 60.0  # dropped records are reported at most this often
STOP_SECONDS = 10.0  # what a stop gives the last writes


class RefusalWriter:
    def __init__(self, buffer: RefusalBuffer, database_url: str, *, batch: int = BATCH) -> None:
        self.buffer = buffer
        self.database_url = database_url
        self.batch = batch
        self.written = 0  # records written since the start
        self._ledger: Ledger | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="refusal-log", daemon=True)
        self._dropped_reported_at = time.monotonic()

    def start(self) -> None:
        self._thread.start()
        atexit.register(self.stop)  # the worker's last refusals are written before the process ends

    def stop(self) -> None:
        """Write what the buffer holds (one more attempt) and end the thread."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(STOP_SECONDS)

    def _run(self) -> None:
        pending: list[Refusal] = []
        while True:
            stopping = self._stopping.is_set()
            if not pending:
                pending = self.buffer.take(self.batch, 0 if stopping else WAIT_SECONDS)
            self._report_drops(force=stopping)
            if pending and self._write(pending):
                pending = []
            elif stopping:  # nothing left, or the database refuses still: what remains is lost, said once
                if pending or len(self.buffer):
                    log.error("refused updates not logged at exit", lost=len(pending) + len(self.buffer))
                return
            elif pending:
                self._stopping.wait(RETRY_SECONDS)

    def _write(self, refusals: list[Refusal]) -> bool:
        try:
            if self._ledger is None:
                ledger = Ledger(self.database_url)
                ledger.upgrade()
                self._ledger = ledger
            self._ledger.record_refusals([refusal.row() for refusal in refusals])
        except (SQLAlchemyError, OSError, DatabaseUrlError) as exc:
            log.warning("refused updates not logged yet; retrying", records=len(refusals), error=type(exc).__name__)
            return False
        self.written += len(refusals)
        return True

    def _report_drops(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._dropped_reported_at < DROPS_REPORT_SECONDS:
            return
        self._dropped_reported_at = now
        dropped = self.buffer.take_dropped()
        if dropped:
            log.warning("refused updates not logged: the refusal buffer was full", dropped=dropped)
