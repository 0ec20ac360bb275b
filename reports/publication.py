"""The published handling figures of one period: the three reports, their headline, as JSON and one HTML page.

`publication_of` gathers the SLA, satisfaction and merchants reports of a period's window; `headline`
picks what a reader looks at first (the on-time rate of each SLA clock and the satisfaction rate, each
against its target), which also travels in the `report_published` effect. Both renderings depend on
the ledger's content only (no time of writing): a repeated run over the same ledger writes the same bytes.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from pydantic import BaseModel, ConfigDict

from reports.html import chart_sections, figures_table, page_head
from reports.model import Figure, Report
from reports.periods import Period, PeriodWindow
from reports.text import title


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClockFigure(_Frozen):
    """One SLA clock's on-time rate (over every group) against its target."""

    clock: str
    time_base: str
    figure: Figure


class Headline(_Frozen):
    on_time: list[ClockFigure]
    satisfaction: Figure | None  # None: the satisfaction report has no row (no case in the window)


class Publication(_Frozen):
    period: Period
    start: dt.date
    end: dt.date  # excluded
    timezone: str
    headline: Headline
    sla: Report
    satisfaction: Report
    merchants: Report


def _figure(figures: list[Figure], name: str) -> Figure | None:
    return next((f for f in figures if f.name == name), None)


def headline(sla: Report, satisfaction: Report) -> Headline:
    on_time = [
        ClockFigure(clock=row.keys["clock"], time_base=row.keys["time_base"], figure=figure)
        for row in sla.rows
        if (figure := _figure(row.figures, "on_time_rate")) is not None
    ]
    rate = _figure(satisfaction.rows[0].figures, "satisfaction_rate") if satisfaction.rows else None
    return Headline(on_time=on_time, satisfaction=rate)


def publication_of(window: PeriodWindow, sla: Report, satisfaction: Report, merchants: Report) -> Publication:
    return Publication(
        period=window.period,
        start=window.start,
        end=window.end,
        timezone=sla.timezone,
        headline=headline(sla, satisfaction),
        sla=sla,
        satisfaction=satisfaction,
        merchants=merchants,
    )


def as_json(publication: Publication) -> str:
    return publication.model_dump_json(indent=2) + "\n"


def _rate(figure: Figure) -> str:
    value = "-" if figure.value is None else f"{figure.value:.1%}"
    bound = ">=" if figure.at_least else "<="
    return f"{value} (target {bound} {figure.target:.0%}: {figure.verdict})"


def _headline_list(head: Headline) -> list[str]:
    items = [f"on-time rate, {c.clock} ({c.time_base}): {_rate(c.figure)}" for c in head.on_time]
    if head.satisfaction is not None:
        items.append(f"satisfaction rate: {_rate(head.satisfaction)}")
    if not items:
        return ["<p>No cases in this period.</p>"]
    return ["<ul>", *(f"<li>{escape(item)}</li>" for item in items), "</ul>"]


def as_html(publication: Publication) -> str:
    """One self-contained page: the headline, the charts once (the SLA report's), three tables."""
    if publication.sla.charts is None:
        raise ValueError("the published page draws the SLA report's charts: build it with charts=True")
    heading = escape(
        f"Handling figures, {publication.period}: cases opened {publication.start} to {publication.end} "
        f"(excluded), {publication.timezone}"
    )
    reports = (publication.sla, publication.satisfaction, publication.merchants)
    parts = [
        *page_head(heading),
        *_headline_list(publication.headline),
        *chart_sections(publication.sla.charts),
    ]
    for report in reports:
        parts += [f"<h2>{escape(title(report))}</h2>", *figures_table(report)]
    definitions = dict.fromkeys(d for report in reports for d in report.definitions)  # once each, in order
    parts += ["<h2>Definitions</h2><ul>", *(f"<li>{escape(d)}</li>" for d in definitions), "</ul></body></html>"]
    return "\n".join(parts) + "\n"
