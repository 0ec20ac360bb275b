"""Scenario files: one case told as events over time (the contract of shared/scenarios.md).

A scenario is the unit of policy tests, simulations and what-if comparisons; its mistakes are
reported as `FILE:LINE:COL: message` like a policy's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from policy_engine.engine import Actor
from policy_engine.language import (
    Exact,
    PolicyError,
    Problem,
    SourceMap,
    load_yaml_file,
    load_yaml_text,
    parse_duration,
    pydantic_problems,
)

SlaExpectation = Literal["met", "breached", "running", "paused", "stopped", "pending"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_when(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("a date-time needs a UTC offset, such as +08:00")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("+"):
            duration = parse_duration(text[1:])
            if not isinstance(duration, Exact):
                raise ValueError(f"'{text}': a relative time is exact, such as +2h, +90m, +7d or +2d3h")
            return text
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{text}' is neither a relative time (+2h) nor an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            raise ValueError("a date-time needs a UTC offset, such as +08:00")
        return parsed
    raise ValueError("a time is +DURATION (relative to opened_at) or an ISO 8601 date-time")


class ScenarioEvent(_Model):
    at: dt.datetime | str
    name: str
    actor: Actor
    data: dict[str, Any] = Field(default_factory=dict)
    key: str | None = None

    _when = field_validator("at", mode="before")(_check_when)


class EffectExpectation(_Model):
    """An effect that must have happened: its type, and as much of its parameters and time as stated.

    `params` match partially: every key given must be there with that value (mappings again
    partially, numbers by value: 299 is 299.00); keys not given are not looked at. `at` is exact
    (+DURATION is after opened_at). `count`, when given, is how many such effects happened.
    """

    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    at: dt.datetime | str | None = None
    count: int | None = Field(default=None, ge=0)

    _when = field_validator("at", mode="before")(_check_when)


class Expectation(_Model):
    state: str | None = None
    closed: bool | None = None
    actions_include: list[str] = Field(default_factory=list)
    actions_exclude: list[str] = Field(default_factory=list)
    rejected_events: int | None = None
    sla: dict[str, SlaExpectation] = Field(default_factory=dict)
    # Extensions beyond shared/scenarios.md (the contract may be extended, never broken):
    decisions: dict[str, str] = Field(default_factory=dict)  # table -> rule id
    counters: dict[str, int] = Field(default_factory=dict)
    escalation_level: int | None = None
    records: dict[str, Any] = Field(default_factory=dict)
    states_visited: list[str] = Field(default_factory=list)
    # Effects with their contents: money, deadlines and the customer's language, not only that an
    # action of some type happened (actions_include).
    effects: list[EffectExpectation] = Field(default_factory=list)
    # Deadlines still open at the end, by timer name as `case status` lists them
    # (`state:<state>:<timer>`, `sla:<clock>:warn|breach`, `ladder:<ladder>:<level>`) -> exact due time.
    timers: dict[str, dt.datetime | str] = Field(default_factory=dict)

    @field_validator("timers", mode="before")
    @classmethod
    def _check_timers(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _check_when(when) for name, when in value.items()}
        return value


class Scenario(_Model):
    case_type: str
    case_id: str
    opened_at: dt.datetime
    data: dict[str, Any] = Field(default_factory=dict)
    events: list[ScenarioEvent] = Field(default_factory=list)
    until: dt.datetime | str | None = None
    expect: Expectation | None = None
    description: str = ""
    file: str = Field(default="", exclude=True)

    _when = field_validator("until", mode="before")(_check_when)

    @field_validator("opened_at", mode="before")
    @classmethod
    def _opened(cls, value: Any) -> Any:
        result = _check_when(value)
        if isinstance(result, str):
            raise ValueError("opened_at must be an absolute date-time")
        return result

    def time_of(self, when: dt.datetime | str) -> dt.datetime:
        if isinstance(when, dt.datetime):
            return when
        duration = parse_duration(when[1:])
        assert isinstance(duration, Exact)
        return self.opened_at + dt.timedelta(seconds=duration.seconds)

    def timed_events(self) -> list[tuple[dt.datetime, ScenarioEvent]]:
        """Events in time order (a stable sort keeps the file's order for equal times)."""
        timed = [(self.time_of(e.at), e) for e in self.events]
        return sorted(timed, key=lambda pair: pair[0])

    def end_time(self, timed: list[tuple[dt.datetime, ScenarioEvent]] | None = None) -> dt.datetime:
        """`until`, or the time of the last event (from `timed` when the caller has them)."""
        if self.until is not None:
            return self.time_of(self.until)
        if timed is None:
            timed = self.timed_events()
        return timed[-1][0] if timed else self.opened_at


def _parse(data: Any, smap: SourceMap, name: str) -> Scenario:
    if not isinstance(data, dict):
        raise PolicyError(
            [smap.problem((), "a scenario is a mapping with case_type, case_id, opened_at, data, events")]
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(pydantic_problems(exc, data, smap)) from None
    scenario.file = name
    return scenario


def load_scenario(path: Path, display: str | None = None) -> Scenario:
    """Read a scenario file; raise PolicyError with FILE:LINE:COL problems when it is invalid."""
    name = display or str(path)
    data, smap, problems = load_yaml_file(path, name)
    if problems:
        raise PolicyError(problems)
    if data is None:
        raise PolicyError([Problem(name, 1, 1, "the scenario file is empty")])
    return _parse(data, smap, name)


def parse_scenario_text(text: str, name: str = "<scenario>") -> Scenario:
    data, smap, problems = load_yaml_text(text, name)
    if problems:
        raise PolicyError(problems)
    return _parse(data, smap, name)


def scenario_files(paths: list[Path]) -> list[Path]:
    """The scenario files under the given files and folders, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            found.append(path)
    return found
