"""Verification on histories read from files: the replay corpus of earlier releases (tests/histories/),
and a hand-edited export, verified with `aftersales audit verify --history FILE`."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from audit.history import CaseHistory, read_histories
from audit.verify import verify_case
from tests.cli import ROOT, aftersales
from tests.principal import process_env
from workflows.contract import PATCH_STOP_ON_POLICY_ERROR, PATCH_WORKING_DAY_PAUSES, WORKFLOW_TYPE

CORPUS = ROOT / "tests" / "histories"
HAPPY_PATH = CORPUS / "return-no-reason-happy-path.json"


def _cases() -> dict[str, list[Path]]:
    """The corpus's case workflows, each with the files of its runs (a case continued as new has two)."""
    runs: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(CORPUS.glob("*.json")):
        started = json.loads(path.read_text(encoding="utf-8"))["events"][0]["workflowExecutionStartedEventAttributes"]
        if started["workflowType"]["name"] == WORKFLOW_TYPE:
            runs[started["firstExecutionRunId"]].append(path)
    return {min(p.stem for p in paths): paths for paths in runs.values()}


CASES = _cases()


async def _read(*paths: Path) -> CaseHistory:
    runs = [WorkflowHistory.from_json(p.stem, p.read_text(encoding="utf-8")) for p in paths]
    return await read_histories(runs, pydantic_data_converter)


def test_the_corpus_holds_the_older_releases_and_a_case_continued_as_new() -> None:
    assert len(CASES) >= 90
    assert {"release-1-decision-row-errs-passed-over", "release-2-report-signal-applied"} <= set(CASES)
    assert len(CASES["path-continue-as-new-first-run"]) == 2


@pytest.mark.parametrize("name", sorted(CASES))
async def test_every_recorded_case_verifies_on_its_pinned_policy(name: str) -> None:
    case = await _read(*CASES[name])

    assert verify_case(case).divergences == []
    assert case.pinned is None or case.inputs  # verified on what it received, not for want of a record


async def test_a_release_1_case_verifies_with_the_behaviour_of_its_release() -> None:
    """Release 1 passed an erring decision row over; today's cases stop there. The history carries no
    patch marker, so it is replayed as release 1 ran it; replayed as today's code would, it diverges."""
    case = await _read(CORPUS / "release-1-decision-row-errs-passed-over.json")
    assert PATCH_STOP_ON_POLICY_ERROR not in case.patches
    assert verify_case(case).verified

    case.patches.add(PATCH_STOP_ON_POLICY_ERROR)
    first = verify_case(case).divergences[0]
    assert first.where.startswith("event #1 take") and "the policy refuses it" in first.message


async def test_a_working_day_pause_verifies_with_the_counting_of_its_release() -> None:
    """Release 6 kept a paused working-day clock's time left in elapsed seconds: held over a weekend,
    the clock was met on Wednesday. Today's cases count working-day time: the same case breaches on
    Tuesday at 17:00 (tests/e2e/working_day_pause_case.py). Each history verifies with the counting
    its markers say, and diverges at the finish with the other."""
    elapsed = await _read(CORPUS / "release-6-working-day-pause-elapsed.json")
    assert PATCH_WORKING_DAY_PAUSES not in elapsed.patches
    assert verify_case(elapsed).verified
    assert elapsed.final is not None and elapsed.final.sla["review"]["status"] == "met"
    elapsed.patches.add(PATCH_WORKING_DAY_PAUSES)
    first = verify_case(elapsed).divergences[0]
    assert first.where.startswith("event #3 finish") and '{"review": "breached"}' in first.message

    working = await _read(CORPUS / "path-working-day-pauses.json")
    assert PATCH_WORKING_DAY_PAUSES in working.patches
    assert verify_case(working).verified
    assert working.final is not None and working.final.records == {"review_late": True}
    working.patches.discard(PATCH_WORKING_DAY_PAUSES)
    assert '{"review": "met"}' in verify_case(working).divergences[0].message


async def test_a_release_2_signal_without_a_caller_check_is_an_input_applied_as_sent() -> None:
    case = await _read(CORPUS / "release-2-report-signal-applied.json")

    signals = [i for i in case.inputs if i.kind == "signal"]

    assert [(s.request.name if s.request else None, s.verdict) for s in signals] == [("refund_completed", None)]
    assert verify_case(case).verified
    assert case.final is not None and case.final.state == "refunded"


def _edit(history: dict[str, Any], event_id: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the JSON payload an event carries (its first), as someone editing the export would."""
    event = next(e for e in history["events"] if int(e["eventId"]) == event_id)
    attributes = next(v for k, v in event.items() if k.endswith("EventAttributes"))
    payloads = (
        attributes.get("acceptedRequest", {}).get("input", {}).get("args")
        or attributes.get("result")
        or attributes.get("input")
    )
    payload = payloads["payloads"][0]
    value = json.loads(base64.b64decode(payload["data"]))
    change(value)
    payload["data"] = base64.b64encode(json.dumps(value).encode()).decode()


def _verify_file(tmp_path: Path, history: dict[str, Any]) -> tuple[int, str, str]:
    exported = tmp_path / "history.json"
    exported.write_text(json.dumps(history), encoding="utf-8")
    env = {"AFTERSALES_HOME": str(ROOT), "AFTERSALES_TIMEZONE": "Asia/Shanghai", **process_env(tmp_path)}
    result = aftersales("audit", "verify", "--history", str(exported), env=env)
    return result.returncode, result.stdout, result.stderr


def _history() -> dict[str, Any]:
    history: dict[str, Any] = json.loads(HAPPY_PATH.read_text(encoding="utf-8"))
    return history


def test_an_unedited_export_verifies_from_the_file(tmp_path: Path) -> None:
    code, out, err = _verify_file(tmp_path, _history())

    assert code == 0
    assert err.splitlines() == ["refused attempts: unknown, no ledger here (AFTERSALES_DATABASE_URL or --database)"]
    assert out.strip().endswith("verified")


def test_an_edited_event_is_reported_at_that_event(tmp_path: Path) -> None:
    history = _history()
    # Event 36 is the customer's `return_shipped` update: the edit makes it a cancellation.
    _edit(history, 36, lambda event: event.update(name="customer_cancel", data={}))

    code, out, _ = _verify_file(tmp_path, history)

    assert code == 1
    assert out.splitlines()[1] == (
        "  at event #4 customer_cancel (2026-11-05 09:00:00 +08:00): "
        "recorded state `in_transit`, the policy gives `cancelled`"
    )


def test_an_edited_activity_result_is_reported_at_that_result(tmp_path: Path) -> None:
    history = _history()
    # Event 62 is the refund's result: the edit says the refund was handed over but not completed,
    # so no `refund_completed` follows and the `refunded` notice the record holds has no cause.
    _edit(history, 62, lambda outcome: outcome.update(completed=False))

    code, out, _ = _verify_file(tmp_path, history)

    assert code == 1
    first = out.splitlines()[1]
    assert first.startswith("  at input #8 result of refund (2026-11-08 10:00:00 +08:00): ")
    assert 'recorded action `notify` {"locale": "zh-CN", "template": "refunded"' in first
    assert first.endswith("the policy gives none")


def test_an_edited_payload_that_no_longer_reads_is_named_with_its_event(tmp_path: Path) -> None:
    history = _history()
    _edit(history, 56, lambda event: event.update(name=["not", "a", "name"]))

    code, out, err = _verify_file(tmp_path, history)

    assert (code, out) == (2, "")
    assert (
        err.strip() == "history: event 56 does not carry a readable EventRequest "
        "(edited by hand, or encrypted with a key the project does not have)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a Temporal history in JSON"),
        ('{"events": []}', "the history has no events"),
    ],
)
def test_a_file_that_is_not_a_history_is_refused_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    exported = tmp_path / "history.json"
    exported.write_text(text, encoding="utf-8")

    result = aftersales("audit", "verify", "--history", str(exported), env={"AFTERSALES_HOME": str(ROOT)})

    assert result.returncode == 2
    assert result.stderr.startswith(f"{exported}: {message}")
