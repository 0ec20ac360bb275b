"""The risk watch's activities: check the ledger for a window, open a merchant review as the worker.

A review's case id is derived from the merchant and the window's end (`review_case_id`), so a late or
repeated run for the same scheduled time finds the case it opened before instead of opening another.
That id is predictable, so a case found under it counts as this review only if its start on record
is one the watch would have made (`activities.linked_cases.why_not_opened_as`): a `merchant_review`
of this merchant and window, opened on this task queue no earlier than the window's end. Anything
else under the id is `taken`: no review is opened for the merchant this time, and the worker logs an
error naming the case, for an operator to look into.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.case_activities import CaseActivities
from activities.linked_cases import why_not_opened_as
from ledger.store import Ledger
from risk.figures import REVIEW_CASE_TYPE
from risk.rules import RULES_FILE, load_rules
from risk.watch import Flagged, check
from workflows.contract import WORKFLOW_TYPE, CaseStart, OpenRequest, workflow_id_for

log = structlog.get_logger("aftersales.risk")


class ReviewOpening(BaseModel):
    """A merchant review the watch opens: its derived id and the data it opens with."""

    case_id: str
    merchant: str
    data: dict[str, Any]


class RiskCheckResult(BaseModel):
    start: dt.datetime
    end: dt.datetime
    merchants: int  # merchants with cases in the window
    reviews: list[ReviewOpening]


def review_case_id(merchant: str, window_end: dt.datetime) -> str:
    """`MR-<merchant>-<window end, UTC, to the minute>`: the same for every run of the same scheduled time."""
    return f"MR-{merchant}-{window_end.astimezone(dt.UTC):%Y%m%dT%H%MZ}"


def review_of(flag: Flagged, start: dt.datetime, end: dt.datetime) -> ReviewOpening:
    data = {
        "merchant_id": flag.merchant,
        "window_start": start.astimezone(dt.UTC).isoformat(),
        "window_end": end.astimezone(dt.UTC).isoformat(),
        "figures": {k: v for k, v in flag.figures.as_data().items() if k != "merchant" and v is not None},
        "crossed": [crossing.rule.id for crossing in flag.crossed],
    }
    return ReviewOpening(case_id=review_case_id(flag.merchant, end), merchant=flag.merchant, data=data)


class RiskActivities:
    """The ledger and rules the watch reads, and the case activities whose worker key opens reviews."""

    def __init__(self, policy_dir: Path, database_url: str, cases: CaseActivities) -> None:
        self.policy_dir = policy_dir
        self.database_url = database_url
        self.cases = cases

    def activities(self) -> list[Any]:
        return [self.risk_check, self.open_merchant_review]

    @activity.defn(name="risk_check")
    def risk_check(self, as_of: dt.datetime) -> RiskCheckResult:
        """The merchants crossing a rule in the window ending at `as_of` (rules read now, from the policy folder)."""
        rules = load_rules(self.policy_dir / RULES_FILE)  # a PolicyError fails the attempt; Temporal retries
        ledger = Ledger(self.database_url)
        try:
            ledger.upgrade()  # a ledger no case has written yet has no tables: it reads as empty
            found = check(ledger.engine, rules, as_of)
        finally:
            ledger.close()
        reviews = [review_of(flag, found.start, found.end) for flag in found.flagged]
        log.info("risk check", window_end=as_of.isoformat(), merchants=len(found.merchants), flagged=len(reviews))
        return RiskCheckResult(start=found.start, end=found.end, merchants=len(found.merchants), reviews=reviews)

    @activity.defn(name="open_merchant_review")
    async def open_merchant_review(self, review: ReviewOpening) -> str:
        """`opened`, `already opened` (this review, by an earlier run), `under review` (another open one)
        or `taken` (its id holds a case the watch did not open)."""
        client = self.cases.client()
        query = f"CaseType = '{REVIEW_CASE_TYPE}' AND MerchantId = '{_quoted(review.merchant)}' AND ExecutionStatus = 'Running'"
        async for running in client.list_workflows(query):
            if running.id != workflow_id_for(review.case_id):
                log.info("merchant already under review", merchant=review.merchant, review=running.id)
                return "under review"
        opening = OpenRequest(case_id=review.case_id, case_type=REVIEW_CASE_TYPE, data=review.data)
        opening.token = self.cases.sign_as_worker(
            opening, now=activity.info().scheduled_time, jti="review:" + review.case_id
        )
        try:
            await client.start_workflow(
                WORKFLOW_TYPE,
                CaseStart(open=opening),
                id=workflow_id_for(review.case_id),
                task_queue=self.cases.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:
            taken = await why_not_opened_as(
                client,
                workflow_id_for(review.case_id),
                _same_review(review),
                self.cases.task_queue,
                _window_end(review),
            )
            if taken is None:
                return "already opened"
            log.error(
                "merchant review not opened: its id is taken",
                merchant=review.merchant,
                case_id=review.case_id,
                reason=f"the case under {review.case_id} {taken}",
            )
            return "taken"
        log.info("merchant review opened", merchant=review.merchant, case_id=review.case_id)
        return "opened"


def _same_review(review: ReviewOpening) -> Callable[[CaseStart], bool]:
    """Whether an opening on record is this review: its type, merchant and window (not its figures,
    which a later run over late facts may compute otherwise)."""

    def same(start: CaseStart) -> bool:
        data = start.open.data
        return start.open.case_type == REVIEW_CASE_TYPE and all(
            data.get(name) == review.data[name] for name in ("merchant_id", "window_start", "window_end")
        )

    return same


def _window_end(review: ReviewOpening) -> dt.datetime:
    # A review is opened when its window has ended: a case under its id from before then was not.
    return dt.datetime.fromisoformat(str(review.data["window_end"]))


def _quoted(text: str) -> str:
    # A visibility query string literal: a quote in a merchant id must not end it.
    return text.replace("\\", "\\\\").replace("'", "\\'")
