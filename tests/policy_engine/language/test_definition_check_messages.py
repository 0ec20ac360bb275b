"""The whole line an operator reads for each mistake in what a policy defines (completeness, its
calendar, windows, decision tables, states and timers, SLA clocks and dates).

The broken-policy corpus checks where each mistake is reported and a part of its message (ignoring
case); here the full `LINE:COL: message` of those cases is checked word for word, so a message that
loses its words, its case or the name it is about is caught.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy_engine.language.corpus import CORPUS, problems_of

VALID = CORPUS / "_valid.yaml"

_NEEDS_CALENDAR = "needs a calendar: set `calendar:` on the policy"

FULL_MESSAGES = [
    ("70-missing-case-type.yaml", "4:13: policy 'ticket' needs `case_type` (or mark it `abstract: true`)"),
    (
        "404-shared-policy-not-abstract.yaml",
        "84:13: policy 'ticket-common' needs `case_type` (or mark it `abstract: true`)",
    ),
    ("404-shared-policy-not-abstract.yaml", "84:13: policy 'ticket-common' needs `open` (or mark it `abstract: true`)"),
    (
        "404-shared-policy-not-abstract.yaml",
        "84:13: policy 'ticket-common' needs `states` (or mark it `abstract: true`)",
    ),
    ("69-no-terminal-state.yaml", "41:5: no state is terminal: a case could never close"),
    (
        "38-open-without-goto.yaml",
        "38:5: `open` must always move the case to a state: end with a goto that has no `if`",
    ),
    ("17-unknown-calendar.yaml", "7:15: unknown calendar 'moon-cal'"),
    ("72-working-days-without-calendar.yaml", f"89:17: '2 working days' {_NEEDS_CALENDAR}"),
    ("412-working-time-without-calendar.yaml", f"94:20: '2 working days' {_NEEDS_CALENDAR}"),
    ("412-working-time-without-calendar.yaml", f"99:49: '4 business hours' {_NEEDS_CALENDAR}"),
    ("412-working-time-without-calendar.yaml", f"99:77: '3 working days' {_NEEDS_CALENDAR}"),
    ("412-working-time-without-calendar.yaml", f"104:20: '1 working day' {_NEEDS_CALENDAR}"),
    ("413-sla-target-working-days-without-calendar.yaml", f"88:17: '2 working days' {_NEEDS_CALENDAR}"),
    (
        "42-window-length-and-months.yaml",
        "19:9: a window needs exactly one of `length` (a duration), `months` or `days`",
    ),
    ("36-duplicate-rule-id.yaml", "25:17: duplicate rule id 'urgent' (also at line 22)"),
    ("406-duplicate-rule-id-below-its-if.yaml", "25:17: duplicate rule id 'urgent' (also at line 23)"),
    (
        "35-rows-with-different-outputs.yaml",
        "26:19: row 'normal' gives outputs ['lvl'] but the first row gives ['level']: "
        "every row of a table gives the same outputs",
    ),
    (
        "34-no-catch-all-row.yaml",
        "25:13: decision 'priority' has no final row without `if`: add a catch-all row so it always has an answer",
    ),
    (
        "91-row-after-catch-all.yaml",
        "27:17: row 'big' can never match: row 'normal' above it has no `if` and always wins",
    ),
    ("15-on-undeclared-event.yaml", "63:11: unknown event 'escalate_now'"),
    ("62-any-state-undeclared-event.yaml", "69:7: unknown event 'withdraw'"),
    (
        "23-timer-both-after-and-at.yaml",
        "66:13: a timer needs exactly one of `after` (a duration) or `at` (a window)",
    ),
    (
        "22-timer-without-effect.yaml",
        "64:11: timer 'auto_close' has no effect: give it a goto, actions, set or escalate",
    ),
    ("24-timer-at-unknown-window.yaml", "65:17: unknown window 'grase'; did you mean 'grace'?"),
    (
        "37-terminal-with-events.yaml",
        "67:32: a terminal state closes the case: it cannot have `on` or `timers`",
    ),
    (
        "68-terminal-on-enter-goto.yaml",
        "67:43: a terminal state closes the case: its `on_enter` only runs actions, so `goto` would never happen",
    ),
    ("39-sla-unknown-state.yaml", "71:16: unknown state 'solve'; did you mean 'solved'?"),
    ("40-warn-without-handler.yaml", "73:9: `warn_at` and `on_warn` go together: add `on_warn`"),
    ("409-on-warn-without-warn-at.yaml", "73:9: `warn_at` and `on_warn` go together: add `warn_at`"),
    ("73-effective-until-before-from.yaml", "9:22: effective_until must be after effective_from"),
]


@pytest.mark.parametrize(("case", "line"), FULL_MESSAGES, ids=[f"{c}@{m.split(' ')[0]}" for c, m in FULL_MESSAGES])
def test_the_operator_reads_the_whole_message(case: str, line: str) -> None:
    reported = problems_of(CORPUS / case)
    assert line in reported, "\n".join(reported)


def test_every_decision_table_is_checked_after_one_with_a_row_that_never_matches(tmp_path: Path) -> None:
    """A row below a catch-all row in one table does not stop the checks of the tables after it."""
    text = VALID.read_text(encoding="utf-8")
    rows = "          - id: normal\n            then: {level: low}\n"
    assert rows in text
    broken = tmp_path / "two-tables.yaml"
    broken.write_text(
        text.replace(
            rows,
            rows
            + "          - id: big\n            then: {level: high}\n"
            + "      queue:\n        rules:\n"
            + "          - id: everyone\n            then: {queue: general}\n"
            + "          - id: vip\n            if: case.urgent\n            then: {queue: vip}\n",
        ),
        encoding="utf-8",
    )
    reported = problems_of(broken)
    assert "26:17: row 'big' can never match: row 'normal' above it has no `if` and always wins" in reported
    assert "32:17: row 'vip' can never match: row 'everyone' above it has no `if` and always wins" in reported
