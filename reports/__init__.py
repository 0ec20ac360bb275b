"""Compliance reports from the case ledger: SLA, satisfaction and merchants, every figure against its target.

`build_report(ledger, kind, start, end, by=None, targets=None, charts=True)` reads the ledger into a
`Report` (`charts=needs_charts(fmt)`: only the HTML page draws them); `render(report, fmt)` writes it as a table, JSON, CSV or a self-contained HTML page. Targets come
from `policies/compliance/targets.yaml` (`load_targets`). Reference: docs/reports.md.
"""

from reports.build import build_report
from reports.model import Report
from reports.render import FORMATS, needs_charts, render
from reports.targets import Targets, load_targets

__all__ = ["FORMATS", "Report", "Targets", "build_report", "load_targets", "needs_charts", "render"]
