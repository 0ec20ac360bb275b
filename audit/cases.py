"""Which cases to audit (ids, or a visibility query) and their histories, fetched concurrently."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Sequence

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from audit.history import CaseHistory, HistoryError, fetch_case
from workflows.contract import WORKFLOW_TYPE

CONCURRENCY = 16  # histories fetched at once: enough to hide the round trips, gentle on the server
CASE_PREFIX = "case-"


def parse_since(text: str) -> dt.datetime:
    """`--closed-since`: a date (2026-11-01, midnight UTC) or an ISO 8601 time with its offset."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            "--closed-since: not a date or time, such as 2026-11-01 or 2026-11-01T00:00:00+08:00"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def closed_since_query(since: dt.datetime | None, query: str | None) -> str:
    """The visibility query for the cases closed since `since`, narrowed by the caller's own query."""
    parts = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    if since is not None:
        parts.append(f"CloseTime >= '{since.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'")
    if query:
        parts.append(f"({query})")
    return " AND ".join(parts)


async def case_ids_matching(client: Client, query: str) -> list[str]:
    """The case ids the query lists (each case once, however many runs it has)."""
    ids: list[str] = []
    async for execution in client.list_workflows(query):
        case_id = execution.id.removeprefix(CASE_PREFIX)
        if execution.id.startswith(CASE_PREFIX) and case_id not in ids:
            ids.append(case_id)
    return ids


async def fetch_cases(
    client: Client, case_ids: Sequence[str], concurrency: int = CONCURRENCY
) -> AsyncIterator[tuple[str, CaseHistory | str]]:
    """Each case's history as soon as it is read (`concurrency` at a time), or why it could not be."""
    gate = asyncio.Semaphore(concurrency)

    async def one(case_id: str) -> tuple[str, CaseHistory | str]:
        async with gate:
            try:
                return case_id, await fetch_case(client, case_id)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return case_id, f"no case {case_id}"
                return case_id, f"the Temporal server refused to give the history of {case_id}: {exc.message}"
            except HistoryError as exc:
                return case_id, str(exc)

    for done in asyncio.as_completed([one(case_id) for case_id in case_ids]):
        yield await done
