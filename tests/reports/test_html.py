"""The report page: self-contained and escaped, and drawn by a real browser (headless chromium)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.schema import cases
from ledger.store import Ledger
from reports import build_report, render
from reports.model import Report
from tests.browser import dump_dom, read_png, screenshot
from tests.reports.generated import generate, write

HOSTILE = '<script>alert("x")</script>&'
BAR_COLOUR = (0xE0, 0x8A, 0x1E)  # svg .bar in reports/html.py
TARGET_COLOUR = (0xB3, 0x26, 0x1E)  # svg .target


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    ledger = Ledger(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'aftersales.sqlite3'}")
    ledger.upgrade()
    write(ledger, generate(seed=7, n=300, first=dt.datetime(2026, 10, 28, tzinfo=dt.UTC), days=40))
    with ledger.engine.begin() as db:  # a merchant id written by someone hostile
        db.execute(sa.update(cases).where(cases.c.merchant == "M-1").values(merchant=HOSTILE))
    yield build_report(ledger, "merchants", dt.date(2026, 11, 2), dt.date(2026, 11, 30), timezone="Asia/Shanghai")
    ledger.close()


@pytest.fixture(scope="module")
def page(report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(render(report, "html"), encoding="utf-8")
    return path


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


def test_the_page_loads_nothing_and_escapes_every_text(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"\b(src|href)=", html)  # no script, style sheet, font or image from anywhere
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html  # the merchant, as text


def test_chromium_draws_every_chart(report: Report, page: Path) -> None:
    charts = report.charts
    weeks_with_clocks = sum(p.on_time_rate is not None for p in charts.weekly)

    dom = dump_dom(page)

    weekly, merchants, categories, histogram = _svgs(dom)
    assert weekly.count('class="point"') == weeks_with_clocks > 0
    assert weekly.count('class="target"') == 1
    assert merchants.count('class="bar"') == len(charts.slowest_merchants) > 0
    assert categories.count('class="bar"') == len(charts.slowest_categories) > 0
    assert histogram.count('class="bar"') == len(charts.distribution) == 21
    assert dom.count("<tr>") == len(report.rows) + 1  # the table's heading and a row per merchant
    assert "<script>alert" not in dom  # the hostile merchant stayed text


def test_the_screenshot_shows_the_charts(page: Path, tmp_path: Path) -> None:
    colours = read_png(screenshot(page, tmp_path / "report.png"), rows=None).pixels()

    white = colours[(255, 255, 255)]
    assert white < 0.97 * sum(colours.values())  # not a blank page
    assert len(colours) > 20  # text, axes, bars, lines
    assert colours[BAR_COLOUR] > 500  # the bars' fill
    assert colours[TARGET_COLOUR] > 50  # the target lines
