"""Operator tools over policies: what changed between two sets, the state machine as a diagram, and
working-day calendars generated for pinning."""

from policy_engine.tools.calendar_generate import YearData, generate_cn_mainland, render_calendar_yaml
from policy_engine.tools.graph import mermaid
from policy_engine.tools.policy_diff import Change, diff_policies, diff_sets

__all__ = [
    "Change",
    "YearData",
    "diff_policies",
    "diff_sets",
    "generate_cn_mainland",
    "mermaid",
    "render_calendar_yaml",
]
