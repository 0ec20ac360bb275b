"""A report as a terminal table, JSON or CSV: one line per row, each figure beside its target and verdict."""

from __future__ import annotations

import csv
import io

from rich.console import Console
from rich.table import Table

from reports.model import Report, Row

ALL = "all"  # the key column of a report that is not grouped


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _key_names(report: Report) -> list[str]:
    return list(report.rows[0].keys) if report.rows and report.rows[0].keys else ["group"]


def _keys(row: Row) -> list[str]:
    return list(row.keys.values()) or [ALL]


def title(report: Report) -> str:
    by = f", by {report.by}" if report.by else ""
    return f"{report.kind} report: cases opened {report.start} to {report.end} (excluded), {report.timezone}{by}"


def header(report: Report) -> list[str]:
    """The columns of the table and the CSV, from the report's first row (every row has the same)."""
    if not report.rows:
        return ["group"]
    first = report.rows[0]
    columns = _key_names(report) + list(first.counts) + [f"{name} h" for name in first.hours]
    for figure in first.figures:
        columns += [figure.name, f"{figure.name} target", f"{figure.name} verdict"]
    return columns


def cells(row: Row) -> list[str]:
    out = _keys(row) + [str(n) for n in row.counts.values()] + [_hours(h) for h in row.hours.values()]
    for figure in row.figures:
        bound = ">=" if figure.at_least else "<="
        out += [_percent(figure.value), f"{bound} {_percent(figure.target)}", figure.verdict]
    return out


# What an empty report lacks: a window may hold cases whose clocks have not started yet.
_NOTHING = {
    "sla": "no SLA clock of the cases opened in this window has started",
    "satisfaction": "no case opened in this window was followed up",
    "merchants": "no case was opened in this window",
}


def as_table(report: Report) -> str:
    out = Console(file=io.StringIO(), width=200, highlight=False, color_system=None, soft_wrap=False)
    if report.rows:
        keys = _key_names(report)
        table = Table(title=title(report), title_justify="left")
        for column in header(report):
            table.add_column(column, justify="left" if column in keys else "right")
        for row in report.rows:
            table.add_row(*cells(row))
        out.print(table)
    else:
        out.print(title(report), markup=False)
        out.print(f"nothing to report: {_NOTHING[report.kind]}", markup=False)
    for definition in report.definitions:
        out.print(f"- {definition}", markup=False)
    return str(out.file.getvalue())  # type: ignore[attr-defined]


def as_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def as_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header(report))
    for row in report.rows:
        writer.writerow(_safe(cell) for cell in cells(row))
    return buffer.getvalue()


def _safe(cell: str) -> str:
    # A merchant or category id is the caller's text: a spreadsheet would run one starting with = + - @.
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@") else cell
