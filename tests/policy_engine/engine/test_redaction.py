"""Expression errors the engine passes on keep the policy's text and leave the case's values out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from policy_engine.engine import Actor, EventIn, OpenCase, failure_messages, open_case, step
from policy_engine.engine.redaction import without_values
from policy_engine.language import ResolvedPolicy, load_policy_set
from tests.conftest import ROOT

BASE = ROOT / "tests" / "broken_policies" / "_base"
AT = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
HOSTILE = "ZZ\n\u202eFORGED"

NOTE = """
policies:
  - policy: note
    case_type: note
    calendar: test-cal
    locales: [zh-CN, en]
    data: {}
    events:
      jot: {roles: [agent], data: {note: string}}
      go: {roles: [agent], data: {note: string}}
    variables:
      found: {type: any, required: false}
    open:
      goto: new
    states:
      new:
        on:
          jot:
            set: {found: "vars[event.note] == 1"}
            actions: [{record: {name: seen, value: "vars[event.note] == 2"}}]
          go:
            goto:
              - if: vars[event.note] == 1
                goto: done
      done: {terminal: true}
"""


@pytest.fixture(scope="module")
def note(tmp_path_factory: pytest.TempPathFactory) -> ResolvedPolicy:
    path: Path = tmp_path_factory.mktemp("note") / "note.yaml"
    path.write_text(NOTE, encoding="utf-8")
    return load_policy_set([BASE, path]).policies["note"]


@pytest.mark.parametrize(
    ("error", "policy_text", "shown"),
    [
        (
            "`vars[event.note]`: 'dict object' has no attribute 'ZZ\\n\\u202eFORGED'",
            "",
            "`vars[event.note]`: 'dict object' has no attribute '…'",
        ),
        ("`a < 1`: cannot compare text with a number ('<')", "", "`a < 1`: cannot compare text with a number ('<')"),
        ('`float(x)`: ValueError: could not convert: "it\'s"', "", "`float(x)`: ValueError: could not convert: '…'"),
        ("'P1' is undefined", "case.level == 'P1'", "'P1' is undefined"),
        ("'P1' is undefined", "", "'…' is undefined"),
        ("no quotes at all", "", "no quotes at all"),
        ("`x`: 'NoneType' and '' and 'a\\'b'", "", "`x`: 'NoneType' and '…' and '…'"),
    ],
)
def test_quoted_values_the_policy_did_not_write_are_left_out(error: str, policy_text: str, shown: str) -> None:
    assert without_values(error, policy_text) == shown


@pytest.mark.parametrize(
    "word", ["dict object", "NoneType", "int", "float", "str", "bool", "list", "dict", "tuple", "datetime", "date"]
)
def test_pythons_type_words_stay(word: str) -> None:
    assert without_values(f"`x`: '{word}' is not '{word}s'") == f"`x`: '{word}' is not '…'"


def _event(name: str, text: str) -> EventIn:
    return EventIn(name=name, actor=Actor(role="agent"), data={"note": text}, at=AT + dt.timedelta(minutes=1))


def test_a_failed_variable_and_action_do_not_quote_the_event(note: ResolvedPolicy) -> None:
    case = open_case(note, OpenCase(case_id="N-1", case_type="note", at=AT)).state
    result = step(note, case, _event("jot", HOSTILE))
    assert failure_messages(result.state.timeline) == [
        "variable 'found' failed: `vars[event.note] == 1`: 'dict object' has no attribute '…'",
        "action 'record' failed: `vars[event.note] == 2`: 'dict object' has no attribute '…'",
    ]


def test_a_failed_condition_does_not_quote_the_event(note: ResolvedPolicy) -> None:
    case = open_case(note, OpenCase(case_id="N-1", case_type="note", at=AT)).state
    result = step(note, case, _event("go", HOSTILE))
    assert result.failed == (
        "a goto condition failed while handling 'go': `vars[event.note] == 1`: 'dict object' has no attribute '…'"
    )
    # The `error` entry keeps the event's data (it was admitted), and its message no more than `failed`.
    assert result.state.timeline[-1].detail["message"] == f"{result.failed}; the event was not applied"
