"""`render(report, fmt)`: a report in one of the formats people and programs read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from reports.html import as_html
from reports.model import Report
from reports.text import as_csv, as_json, as_table

Format = Literal["table", "json", "csv", "html"]
_RENDERERS: dict[str, Callable[[Report], str]] = {"table": as_table, "json": as_json, "csv": as_csv, "html": as_html}
FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def needs_charts(fmt: str) -> bool:
    """Whether `fmt` draws the charts, so that `build_report` must compute their data."""
    return fmt == "html"


def render(report: Report, fmt: str) -> str:
    """The report as `fmt` (one of FORMATS); raises ValueError for any other, and for `html` when the
    report was built without its charts (`needs_charts`)."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown report format; use one of {', '.join(FORMATS)}")
    return renderer(report)
