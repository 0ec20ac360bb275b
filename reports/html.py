"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing from the network.

On top the charts (on-time rate per week against the target, the slowest merchants and categories,
the distribution of time to handle), then the report's table with each figure's verdict, then the
figures' definitions. Every text from the ledger is escaped.
"""

from __future__ import annotations

from html import escape

from reports import svg
from reports.model import Charts, Report, Slowest
from reports.text import cells, header, title

CSP = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#1d2733;background:#fff}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid #d9dee5;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
.figures{overflow-x:auto}.met{color:#17683a;font-weight:600}.missed{color:#b3261e;font-weight:600}
svg .axis{stroke:#6b7785}svg .line{fill:none;stroke:#2f6fdd;stroke-width:2}svg .point{fill:#2f6fdd}
svg .bar{fill:#e08a1e}svg .target{stroke:#b3261e;stroke-dasharray:6 4;stroke-width:2}
svg .label{font-size:11px;fill:#33404d}svg .target-label{font-size:11px;fill:#b3261e}
"""


def chart_sections(charts: Charts) -> list[str]:
    """The charts' headings and SVGs (also on the published handling figures' page, reports/publication.py)."""
    weeks = charts.weekly
    buckets = charts.distribution
    return [
        "<h2>On-time rate per week</h2>",
        svg.rate_line(
            "on-time rate per week against the target",
            [w.week.strftime("%m-%d") for w in weeks],
            [w.on_time_rate for w in weeks],
            charts.on_time_target,
        ),
        *_slowest("merchants", charts.slowest_merchants),
        *_slowest("categories", charts.slowest_categories),
        "<h2>Time to handle, as a share of the target (clocks)</h2>",
        svg.bars(
            "time to handle distribution",
            [f"{b.low:.0%}" + ("+" if b.high is None else "") for b in buckets],
            [float(b.clocks) for b in buckets],
            [str(b.clocks) for b in buckets],
            None,
            False,
        ),
    ]


def _slowest(what: str, slowest: list[Slowest]) -> list[str]:
    """The heading and bars of the slowest merchants or categories, each against the target's time (1.0)."""
    return [
        f"<h2>Slowest {what} (average share of the target taken)</h2>",
        svg.bars(
            f"slowest {what}",
            [s.name for s in slowest],
            [s.share_of_target for s in slowest],
            [f"{s.share_of_target:.0%}" for s in slowest],
            1.0,
            True,
        ),
    ]


def page_head(heading: str) -> list[str]:
    """The start of a page, to its <h1>: nothing may load from anywhere (CSP), since the page is read
    offline and archived as published. `heading` is escaped HTML."""
    return [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        CSP,
        f"<title>{heading}</title><style>{STYLE}</style></head><body>",
        f"<h1>{heading}</h1>",
    ]


def figures_table(report: Report) -> list[str]:
    """The report's rows as an HTML table, each verdict coloured."""
    if not report.rows:
        return ["<p>No cases in this window.</p>"]
    out = [
        '<div class="figures"><table><thead><tr>',
        *(f"<th>{escape(c)}</th>" for c in header(report)),
        "</tr></thead><tbody>",
    ]
    for row in report.rows:
        out.append("<tr>")
        for cell in cells(row):
            css = f' class="{cell}"' if cell in ("met", "missed") else ""
            out.append(f"<td{css}>{escape(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return out


def as_html(report: Report) -> str:
    """Raises ValueError for a report built without its charts."""
    if report.charts is None:
        raise ValueError("an HTML report draws its charts: build it with charts=True")
    heading = escape(title(report))
    parts = [
        *page_head(heading),
        *chart_sections(report.charts),
        "<h2>Figures</h2>",
        *figures_table(report),
        "<h2>Definitions</h2><ul>",
        *(f"<li>{escape(d)}</li>" for d in report.definitions),
        "</ul></body></html>",
    ]
    return "\n".join(parts) + "\n"
