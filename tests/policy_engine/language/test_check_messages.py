"""The cross-reference checks' messages, word for word and where they are reported.

The broken-policy corpus matches a part of a message, in any case; these pin the whole of it (what
an operator reads: the kind of name, a close name if there is one, else the names there are) and
check that one mistake does not hide the next. Each policy is the corpus' `_valid.yaml` with one
change; LINE:COL are in that text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.language import ROLES
from tests.policy_engine.language.corpus import edit, problems

TIMER_NOTIFY = "            actions: [{notify: {to: [agent], template: nudge}}]\n      working:\n"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            ("      take: {roles: [agent]}\n", "      take: {roles: [agnet]}\n"),
            "31:22: unknown role 'agnet'; did you mean 'agent'?",
            id="role-misspelt",
        ),
        pytest.param(
            ("      take: {roles: [agent]}\n", "      take: {roles: [boss]}\n"),
            f"31:22: unknown role 'boss' (roles: {', '.join(ROLES)})",
            id="role-unlike-any",
        ),
        pytest.param(
            ("            count: reopens\n", "            count: reopen\n"),
            "56:20: unknown counter 'reopen'; did you mean 'reopens'?",
            id="counter",
        ),
        pytest.param(
            ("      decide: priority\n", "      decide: urgency\n"),
            "38:15: unknown decision 'urgency'",
            id="decision",
        ),
        pytest.param(
            ("          escalate: late\n", "          escalate: later\n"),
            "76:21: unknown escalation ladder 'later'; did you mean 'late'?",
            id="ladder",
        ),
        pytest.param(
            ("          take: working\n", "          take: workin\n"),
            "43:17: unknown state 'workin'; did you mean 'working'?",
            id="state",
        ),
        pytest.param(
            ("            set: {note: event.answer}\n", "            set: {notes: event.answer}\n"),
            "51:19: unknown variable 'notes'; did you mean 'note'?",
            id="variable",
        ),
        pytest.param(
            (TIMER_NOTIFY, TIMER_NOTIFY.replace("nudge", "nudg")),
            "47:56: unknown template 'nudg'; did you mean 'nudge'? (expected templates/nudg.zh-CN.j2)",
            id="template",
        ),
        pytest.param(
            ("    locales: [zh-CN, en]\n", "    locales: [zh-CN, en, fr, de]\n"),
            "47:56: template 'nudge' has no text for locale fr, de (expected templates/nudge.fr.j2)",
            id="template-locales",
        ),
    ],
)
def test_an_unknown_name_is_reported_in_full(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    found = problems(tmp_path, edit(change))
    assert expected in found, found


def test_a_decision_read_before_it_is_taken_says_how_to_fix_it(tmp_path: Path) -> None:
    """`open` takes `channel` first, whose rules read `priority`, which it takes after."""
    text = edit(
        (
            "    counters:\n",
            "      channel:\n        rules:\n          - id: fast\n            if: decisions.priority.level == 'high'\n"
            "            then: {queue: fast}\n          - id: slow\n            then: {queue: slow}\n    counters:\n",
        ),
        ("      decide: priority\n", "      decide: [channel, priority]\n"),
    )
    assert problems(tmp_path, text) == [
        "29:17: decision 'priority' is read before it is taken: add it to `decide` in `open`, "
        "before anything that reads it"
    ]


def test_a_decision_open_takes_first_may_be_read_by_the_next(tmp_path: Path) -> None:
    text = edit(
        (
            "    counters:\n",
            "      channel:\n        rules:\n          - id: fast\n            if: decisions.priority.level == 'high'\n"
            "            then: {queue: fast}\n          - id: slow\n            then: {queue: slow}\n    counters:\n",
        ),
        ("      decide: priority\n", "      decide: [priority, channel]\n"),
    )
    assert problems(tmp_path, text) == []


def test_a_clock_that_starts_after_the_decision_is_taken_may_read_it(tmp_path: Path) -> None:
    """The `answer` clock starts when an agent takes the ticket, which is when its priority is decided."""
    text = edit(
        ("      decide: priority\n      goto: new\n", "      goto: new\n"),
        ("          take: working\n", "          take:\n            decide: priority\n            goto: working\n"),
        ("        start: open\n", "        start: working\n"),
    )
    assert problems(tmp_path, text) == []


def test_every_requirement_of_an_event_is_checked_after_one_that_does_not_compile(tmp_path: Path) -> None:
    text = edit(
        (
            "        data: {answer: string}\n",
            "        data: {answer: string}\n        require:\n"
            "          - if: event.answer != ''\n            message: 'answer {{ event.answer '\n"
            "          - if: event.answer != 'no'\n            message: 'answer {{ event.anwser }}'\n",
        ),
    )
    found = problems(tmp_path, text)
    assert len(found) == 2, found
    assert found[0].startswith("37:22: template does not compile: "), found
    assert found[1].startswith("39:22: unknown field 'event.anwser'"), found


def test_when_may_read_the_case_parameters_and_now(tmp_path: Path) -> None:
    when = "    when: case.amount >= params.big_amount and now >= '2026-01-01'\n"
    assert problems(tmp_path, edit(("    calendar: test-cal\n", "    calendar: test-cal\n" + when))) == []


def test_when_may_not_read_what_a_case_has_only_once_it_runs(tmp_path: Path) -> None:
    when = "    when: vars.note == ''\n"
    found = problems(tmp_path, edit(("    calendar: test-cal\n", "    calendar: test-cal\n" + when)))
    assert found == ["7:11: unknown name 'vars'; did you mean 'params'?"]
