"""The figures' definitions, shown with every report (and the same words in docs/reports.md)."""

from __future__ import annotations

from reports.model import ReportKind

WINDOW = (
    "Window: the cases opened from the first day (included) to the last (excluded), days counted in the "
    "report's time zone; every figure is about those cases, whenever their clocks ended."
)
CLOCKS = (
    "A clock is one round of an SLA clock of a case. Met: it stopped before its due time; breached: its due "
    "time passed first; running: not decided yet (running or paused), left out of the on-time rate; "
    "stopped: the case closed before the clock's stop, also left out."
)
ON_TIME = "On-time rate: met / (met + breached)."
HANDLED = (
    "Time to handle: the running time (pauses excluded) of the clocks that reached their stop, met or "
    "breached, in hours of the clock's time base (business hours; hours falling on working days; elapsed "
    "hours for calendar time); median and p90 are nearest-rank percentiles (the value at rank ceil(p x n / "
    "100) in ascending order)."
)
SATISFACTION = (
    "Satisfaction rate: satisfied / responded, where satisfied is a follow-up score at or above the "
    "target's satisfied_score (on the 1-5 scale); response rate: responded / follow-ups."
)
ESCALATIONS = (
    "Escalated, mediated, referred: cases with at least one escalation, one entry into mediation, one "
    "referral to the regulator."
)
MERCHANTS = (
    "Breach rate: breached / (met + breached) over the merchant's clocks; complaint share: complaints / "
    "all the merchant's cases."
)
CHARTS = (
    "Charts: on-time rate per 7-day week from the first day; slowest merchants and categories by the "
    "average share of their target that handled clocks took (1.0 = at the due time); the distribution of "
    "that share for every handled clock."
)

DEFINITIONS: dict[ReportKind, tuple[str, ...]] = {
    "sla": (WINDOW, CLOCKS, ON_TIME, HANDLED, CHARTS),
    "satisfaction": (WINDOW, SATISFACTION, ESCALATIONS, CHARTS),
    "merchants": (WINDOW, CLOCKS, MERCHANTS, SATISFACTION, CHARTS),
}
