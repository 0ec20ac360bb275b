"""The publication's activity: build a period's three reports, write them to a folder, publish one effect.

The files are written atomically (a temporary file renamed over the old one), owner-only (0600) in a
folder of mode 0700, so a reader never sees half a page and a repeated run replaces them with the same
bytes. The effect goes through the worker's own sink (the outbox, and the signed webhook when
configured) under the key `reports/<period>/<start date>`: a repeated run publishes it once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_activities import Sink
from ledger.store import Ledger
from reports import build_report
from reports.periods import Period, PeriodWindow, window_before
from reports.publication import Publication, as_html, as_json, publication_of
from reports.targets import load_targets, targets_path
from service.atomic_files import write_atomically
from workflows.contract import ActionRequest

log = structlog.get_logger("aftersales.reports")
EFFECT_TYPE = "report_published"
PUBLISH_FOLDER_REFUSED = "PublishFolderRefused"  # a run named a folder the worker may not write to
CASE_TYPE = "report"  # the outbox's case type of a publication (its case id is the files' name)


class PublishWindow(BaseModel):
    period: Period
    scheduled: dt.datetime  # the window is the last full period before this time
    folder: str | None = None  # None: the worker's folder


class Published(BaseModel):
    period: Period
    start: dt.date
    end: dt.date  # excluded
    folder: str
    files: list[str]
    effect: str  # the outbox key
    first_time: bool  # False: an earlier run published this period already (the files are rewritten)
    headline: dict[str, Any]


def effect_key(window: PeriodWindow) -> str:
    return f"reports/{window.period}/{window.start.isoformat()}"


def effect_params(publication: Publication, files: list[str]) -> dict[str, Any]:
    """What receivers of `report_published` get: the window, the file names and the headline figures."""
    return {
        "period": publication.period,
        "start": publication.start.isoformat(),
        "end": publication.end.isoformat(),
        "timezone": publication.timezone,
        "files": files,
        **publication.headline.model_dump(mode="json"),
    }


class ReportActivities:
    """The ledger the reports read, the targets' policy folder, and the worker's sink for the effect."""

    def __init__(
        self,
        policy_dir: Path,
        database_url: str,
        sink: Sink,
        *,
        timezone: str,
        folder: Path,
        allowed: Sequence[Path] = (),
    ) -> None:
        """`folder`: where runs that name none publish; `allowed`: other folders a run may name (a
        folder inside one of them, or inside `folder`, and nowhere else)."""
        self.policy_dir = policy_dir
        self.database_url = database_url
        self.sink = sink
        self.timezone = timezone
        self.folder = folder
        self.allowed = [folder, *allowed]

    def _folder_of(self, request: PublishWindow) -> Path:
        """The folder the run writes to. A run's folder is what whoever started it wrote: the worker
        writes only inside its own publication folders, symbolic links followed before the check."""
        if not request.folder:
            return self.folder
        wanted = Path(request.folder).resolve()
        if any(wanted.is_relative_to(root.resolve()) for root in self.allowed):
            return wanted
        roots = ", ".join(str(root) for root in self.allowed)
        raise ApplicationError(
            f"folder {request.folder} is not inside the worker's publication folders ({roots}); "
            "a worker allows more with AFTERSALES_PUBLISH_DIRS",
            type=PUBLISH_FOLDER_REFUSED,
            non_retryable=True,
        )

    def activities(self) -> list[Any]:
        return [self.publish_reports]

    def _publication(self, window: PeriodWindow) -> Publication:
        targets = load_targets(targets_path(self.policy_dir))  # a PolicyError fails the attempt; Temporal retries
        ledger = Ledger(self.database_url)
        try:
            ledger.upgrade()  # a ledger no case has written yet has no tables: its reports are empty
            # The page draws the charts once, from the SLA report: the others go without their data.
            sla, satisfaction, merchants = (
                build_report(
                    ledger,
                    kind,
                    window.start,
                    window.end,
                    targets=targets,
                    timezone=self.timezone,
                    charts=kind == "sla",
                )
                for kind in ("sla", "satisfaction", "merchants")
            )
        finally:
            ledger.close()
        return publication_of(window, sla, satisfaction, merchants)

    @activity.defn(name="publish_reports")
    def publish_reports(self, request: PublishWindow) -> Published:
        window = window_before(request.period, request.scheduled, self.timezone)
        publication = self._publication(window)
        folder = self._folder_of(request)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        files = [f"{window.name}.html", f"{window.name}.json"]
        write_atomically(folder / files[0], as_html(publication))
        write_atomically(folder / files[1], as_json(publication))
        params = effect_params(publication, files)
        effect = ActionRequest(
            case_id=window.name,
            case_type=CASE_TYPE,
            workflow_id=activity.info().workflow_id,
            policy_version="",
            key=effect_key(window),
            type=EFFECT_TYPE,
            params=params,
        )
        first_time = self.sink.deliver(effect)
        log.info(
            "reports published", period=window.period, start=str(window.start), folder=str(folder), first=first_time
        )
        return Published(
            period=window.period,
            start=window.start,
            end=window.end,
            folder=str(folder),
            files=files,
            effect=effect.key,
            first_time=first_time,
            headline=publication.headline.model_dump(mode="json"),
        )
