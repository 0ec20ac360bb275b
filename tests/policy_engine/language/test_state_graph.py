"""The state graph check: every state reachable from `open`, every open state with a way out.

Moves that do not belong to one state's own events and timers count too: an SLA handler's goto (in
any state its clock runs in), an `any_state` event (in every open state) and an `on_enter` goto.
Each policy here is the broken-policy corpus' `_valid.yaml` with one change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy_engine.language.corpus import VALID, edit, problems

# Pieces of _valid.yaml the policies below change.
EVENTS_END = "      close: {roles: [customer, agent]}\n"
WORKING_SOLVED = "            goto: solved\n      solved:\n"
CLOSED = "      closed: {terminal: true}\n"
BREACH = "          escalate: late\n"
SLA = "    sla:\n      answer:\n"


def graph_problems(tmp_path: Path, text: str) -> list[str]:
    return [p for p in problems(tmp_path, text) if "cannot be reached" in p or "no way out" in p]


# A state `waiting` an agent moves the case to (`ask`), with nothing of its own to leave it by.
WAITING = (
    (EVENTS_END, EVENTS_END + "      ask: {roles: [agent]}\n"),
    (WORKING_SOLVED, "            goto: solved\n          ask: waiting\n      waiting: {}\n      solved:\n"),
)


def test_a_state_only_an_sla_breach_leads_to_can_be_reached(tmp_path: Path) -> None:
    text = edit(
        (BREACH, BREACH + "          goto: late_review\n"),
        (CLOSED, CLOSED + "      late_review:\n        on:\n          solve: solved\n"),
    )
    assert problems(tmp_path, text) == []


def test_a_state_only_an_sla_warning_leads_to_can_be_reached(tmp_path: Path) -> None:
    warn = "          actions: [{notify: {to: [agent], template: nudge}}]\n        on_breach:\n"
    text = edit(
        (warn, warn.replace("        on_breach:", "          goto: late_review\n        on_breach:")),
        (CLOSED, CLOSED + "      late_review:\n        on:\n          solve: solved\n"),
    )
    assert problems(tmp_path, text) == []


def test_no_clock_runs_in_a_closed_case_so_its_breach_leads_nowhere(tmp_path: Path) -> None:
    """An opening that sends every case straight to `closed` (a mistake): no state is reachable,
    not even the one an SLA breach leads to, since the clock stops when the case closes."""
    text = edit(
        ("      decide: priority\n      goto: new\n", "      decide: priority\n      goto: closed\n"),
        (BREACH, BREACH + "          goto: late_review\n"),
        (CLOSED, CLOSED + "      late_review:\n        on:\n          solve: solved\n"),
    )
    unreachable = [p for p in graph_problems(tmp_path, text) if "cannot be reached" in p]
    assert [p.split(": ", 1)[1] for p in unreachable] == [
        f"state '{name}' cannot be reached from `open`" for name in ("new", "working", "solved", "late_review")
    ]


def test_a_state_left_only_by_an_sla_breach_has_a_way_out(tmp_path: Path) -> None:
    """`waiting` has no event or timer of its own; the `answer` clock runs there and its breach
    moves the case back to `working`. A first clock that stops in `waiting` does not change that."""
    text = edit(
        *WAITING,
        (BREACH, BREACH + "          goto: working\n"),
        (SLA, "    sla:\n      reply:\n        stop: [waiting]\n        target: 48h\n      answer:\n"),
    )
    assert problems(tmp_path, text) == []


@pytest.mark.parametrize(
    "clock_change",
    [
        pytest.param(("        stop: [solved]\n", "        stop: [solved, waiting]\n"), id="stops"),
        pytest.param(("        stop: [solved]\n", "        stop: [solved]\n        pause: [waiting]\n"), id="pauses"),
    ],
)
def test_a_breach_is_no_way_out_of_a_state_where_its_clock_stops_or_pauses(
    tmp_path: Path, clock_change: tuple[str, str]
) -> None:
    text = edit(*WAITING, (BREACH, BREACH + "          goto: working\n"), clock_change)
    assert graph_problems(tmp_path, text) == [
        "55:7: state 'waiting' is not terminal but has no way out: add an event, a timer or `terminal: true`"
    ]


def test_an_any_state_event_is_a_way_out_of_every_open_state(tmp_path: Path) -> None:
    text = edit(
        (EVENTS_END, EVENTS_END + "      ask: {roles: [agent]}\n      cancel: {roles: [customer]}\n"),
        WAITING[1],
        (CLOSED, CLOSED + "      cancelled: {terminal: true}\n    any_state:\n      cancel: cancelled\n"),
    )
    assert problems(tmp_path, text) == []


def test_an_on_enter_goto_leads_to_its_states_and_out_of_its_state(tmp_path: Path) -> None:
    """`open` moves the case to `routing`, whose `on_enter` moves it on at once."""
    text = edit(
        (
            "      goto: new\n    states:\n",
            "      goto: routing\n    states:\n      routing:\n        on_enter:\n          goto:\n"
            "            - if: case.urgent\n              goto: working\n            - goto: new\n",
        ),
    )
    assert problems(tmp_path, text) == []


def test_a_policy_without_open_is_told_so_not_that_no_state_can_be_reached(tmp_path: Path) -> None:
    text = edit(("    open:\n      decide: priority\n      goto: new\n", ""))
    found = problems(tmp_path, text)
    assert "3:13: policy 'ticket' needs `open` (or mark it `abstract: true`)" in found
    assert graph_problems(tmp_path, text) == []


def test_an_abstract_policy_is_not_checked_as_a_state_graph(tmp_path: Path) -> None:
    """The abstract base leaves `solved` without a way out; the policy extending it adds one."""
    solved = VALID[VALID.index("      solved:\n") : VALID.index(CLOSED)]
    base = edit(
        ("  - policy: ticket\n", "  - policy: ticket-base\n    abstract: true\n"), (solved, "      solved: {}\n")
    )
    child = "  - policy: ticket\n    extends: ticket-base\n    states:\n      solved:\n        on:\n          close: closed\n"
    assert problems(tmp_path, base + child) == []
    # What the check would refuse in the base were it a policy that runs cases (`closed` is then
    # reachable no more either).
    assert graph_problems(tmp_path, base.replace("    abstract: true\n", "")) == [
        "53:7: state 'solved' is not terminal but has no way out: add an event, a timer or `terminal: true`",
        "54:7: state 'closed' cannot be reached from `open`",
    ]
