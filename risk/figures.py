"""Each merchant's figures over a window of the ledger (SQLAlchemy Core: SQLite and PostgreSQL alike).

The cohort is the cases opened in the window [start, end): their count and how many are complaints,
the SLA clocks of those cases that ended met or breached, and their follow-up answers. A merchant
review is not an after-sales case of the merchant's customers, so it counts for nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from ledger.schema import cases, satisfaction, sla_clocks

REVIEW_CASE_TYPE = "merchant_review"
SATISFIED_FROM = 4  # a follow-up score of 4 or 5 is satisfied (docs/ledger.md, "satisfaction")


@dataclass(frozen=True)
class MerchantFigures:
    merchant: str
    cases: int
    complaints: int
    clocks_ended: int  # SLA clocks met or breached
    clocks_breached: int
    answers: int  # follow-ups the customer answered
    satisfied: int  # of which scored 4 or 5

    @property
    def complaint_rate(self) -> float | None:
        return _share(self.complaints, self.cases)

    @property
    def breach_rate(self) -> float | None:
        return _share(self.clocks_breached, self.clocks_ended)

    @property
    def satisfaction_rate(self) -> float | None:
        return _share(self.satisfied, self.answers)

    def figure(self, name: str) -> float | None:
        """A figure by the name rules use (risk/rules.py FIGURES)."""
        value: int | float | None = getattr(self, name)
        return None if value is None else float(value)

    def as_data(self) -> dict[str, Any]:
        """The counts and the rates, as a review case carries them (rates rounded to 4 places)."""
        data: dict[str, Any] = asdict(self)
        for rate in ("complaint_rate", "breach_rate", "satisfaction_rate"):
            value = getattr(self, rate)
            data[rate] = None if value is None else round(value, 4)
        return data


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def merchant_figures(db: sa.Connection, start: dt.datetime, end: dt.datetime) -> list[MerchantFigures]:
    """The figures of every merchant with a case opened in [start, end), by merchant id."""
    cohort = (
        sa.select(cases.c.case_id, cases.c.merchant, cases.c.case_type)
        .where(
            cases.c.merchant.is_not(None),
            cases.c.case_type != REVIEW_CASE_TYPE,
            cases.c.opened_at >= _utc(start),
            cases.c.opened_at < _utc(end),
        )
        .subquery("cohort")
    )
    counted = db.execute(
        sa.select(
            cohort.c.merchant,
            sa.func.count(),
            sa.func.count().filter(cohort.c.case_type == "complaint"),
        ).group_by(cohort.c.merchant)
    )
    ended = sla_clocks.c.status.in_(("met", "breached"))
    clocks = dict(
        _pairs(
            db.execute(
                sa.select(
                    cohort.c.merchant,
                    sa.func.count().filter(ended),
                    sa.func.count().filter(sla_clocks.c.status == "breached"),
                )
                .join(sla_clocks, sla_clocks.c.case_id == cohort.c.case_id)
                .group_by(cohort.c.merchant)
            )
        )
    )
    answers = dict(
        _pairs(
            db.execute(
                sa.select(
                    cohort.c.merchant,
                    sa.func.count(),
                    sa.func.count().filter(satisfaction.c.score >= SATISFIED_FROM),
                )
                .join(satisfaction, satisfaction.c.case_id == cohort.c.case_id)
                .where(satisfaction.c.responded.is_(True))
                .group_by(cohort.c.merchant)
            )
        )
    )
    figures = [
        MerchantFigures(merchant, total, complaints, *clocks.get(merchant, (0, 0)), *answers.get(merchant, (0, 0)))
        for merchant, total, complaints in counted
    ]
    return sorted(figures, key=lambda f: f.merchant)


def _pairs(rows: sa.Result[Any]) -> list[tuple[str, tuple[int, int]]]:
    found: list[Any] = list(rows)
    return [(row[0], (int(row[1]), int(row[2]))) for row in found]


def _utc(moment: dt.datetime) -> dt.datetime:
    # The ledger stores UTC (SQLite without an offset): compare in UTC.
    if moment.tzinfo is None:
        raise ValueError("a window's ends carry a time zone")
    return moment.astimezone(dt.UTC)
