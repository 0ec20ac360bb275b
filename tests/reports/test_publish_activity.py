"""The publication activity on its own: files owner-only and replaced whole, the effect signed to a webhook once."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.case_activities import OutboxSink, WebhookDeliverySink
from activities.outbox import Outbox
from activities.report_activities import EFFECT_TYPE, PUBLISH_FOLDER_REFUSED, PublishWindow, ReportActivities
from activities.webhook import KEY_HEADER, WebhookSink, verify_request
from tests.activities.test_webhook import LOCAL, SECRET, _Receiver, receiver
from tests.conftest import POLICIES
from tests.reports.published import SCHEDULED, WEEK_START, ZONE, fill

__all__ = ["receiver"]  # the webhook receiver fixture, used below


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_publication_is_signed_to_the_webhook_once(tmp_path: Path, receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    sink = WebhookDeliverySink(outbox, WebhookSink([url], SECRET, **LOCAL))
    published = tmp_path / "site" / "published"
    acts = ReportActivities(POLICIES, fill(tmp_path), sink, timezone=ZONE, folder=published)
    window = PublishWindow(period="weekly", scheduled=SCHEDULED)
    first = ActivityEnvironment().run(acts.publish_reports, window)
    again = ActivityEnvironment().run(acts.publish_reports, window)
    assert (first.first_time, again.first_time) == (True, False)
    (body, headers), *more = handler.seen
    assert more == []  # the repeated run sent nothing
    assert verify_request(headers, body, SECRET) is None
    assert headers[KEY_HEADER] == f"reports/weekly/{WEEK_START}"
    effect = json.loads(body)
    assert effect["type"] == EFFECT_TYPE
    assert effect["params"]["files"] == [f"weekly-{WEEK_START}.html", f"weekly-{WEEK_START}.json"]
    assert outbox.count(EFFECT_TYPE) == 1
    assert _mode(published) == 0o700
    assert sorted(p.name for p in published.iterdir()) == effect["params"]["files"]  # no temporary file left
    assert {_mode(p) for p in published.iterdir()} == {0o600}


def test_an_empty_ledger_publishes_an_empty_period(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    url = f"sqlite:///{tmp_path / 'never-written.sqlite3'}"
    acts = ReportActivities(POLICIES, url, OutboxSink(outbox), timezone=ZONE, folder=tmp_path / "published")
    done = ActivityEnvironment().run(acts.publish_reports, PublishWindow(period="monthly", scheduled=SCHEDULED))
    assert (str(done.start), str(done.end)) == ("2026-05-01", "2026-06-01")
    assert done.headline == {"on_time": [], "satisfaction": None}
    assert "No cases in this period." in (tmp_path / "published" / "monthly-2026-05-01.html").read_text()


def _publish_to(tmp_path: Path, folder: Path, allowed: list[Path]) -> Path:
    ledger = tmp_path / "ledger"
    ledger.mkdir(exist_ok=True)
    url = f"sqlite:///{ledger / 'ledger.sqlite3'}" if (ledger / "ledger.sqlite3").exists() else fill(ledger)
    acts = ReportActivities(
        POLICIES,
        url,
        OutboxSink(Outbox(tmp_path / "outbox.sqlite3")),
        timezone=ZONE,
        folder=tmp_path / "published",
        allowed=allowed,
    )
    window = PublishWindow(period="weekly", scheduled=SCHEDULED, folder=str(folder))
    return Path(ActivityEnvironment().run(acts.publish_reports, window).folder)


def test_a_run_writes_inside_the_workers_publication_folders(tmp_path: Path) -> None:
    assert _publish_to(tmp_path, tmp_path / "published" / "2026", []) == tmp_path / "published" / "2026"
    site = tmp_path / "site"
    assert _publish_to(tmp_path, site / "weekly", [site]) == site / "weekly"


@pytest.mark.parametrize("where", ["outside", "up and out", "through a link"])
def test_a_run_naming_another_folder_is_refused_and_writes_nothing(tmp_path: Path, where: str) -> None:
    # The folder is what whoever started the run wrote; the worker writes only where it allows.
    outside = tmp_path / "elsewhere"
    folder = {
        "outside": outside,
        "up and out": tmp_path / "published" / ".." / "elsewhere",
        "through a link": tmp_path / "published" / "link",
    }[where]
    (tmp_path / "published").mkdir()
    (tmp_path / "published" / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(ApplicationError) as refused:
        _publish_to(tmp_path, folder, [])

    assert refused.value.type == PUBLISH_FOLDER_REFUSED and refused.value.non_retryable
    assert "is not inside the worker's publication folders" in refused.value.message
    assert not outside.exists()
