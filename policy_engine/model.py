"""The policy language as typed models (see docs/policy-language.md).

These models check the shape of a policy: keys, types, durations. Cross-references (a `goto` to a
state that does not exist, an expression naming an unknown field) are checked in `checks.py`, where
the whole policy is known.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from policy_engine.durations import Duration, parse_duration
from policy_engine.fields import FieldSpec

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")

# Who may send events and receive notifications: the roles of the after-sales loops (shared
# loops.md). A fixed part of the language, not something a policy declares, so that a misspelt role
# (`roles: [merchnat]`) is refused when the policy loads instead of refusing every real merchant.
ROLES: tuple[str, ...] = ("customer", "merchant", "agent", "supervisor", "mediator", "system")


def _check_duration(text: str) -> str:
    parse_duration(text)  # raises ValueError with an operator-friendly message
    return text


def _check_name(text: str) -> str:
    if not _NAME.match(text):
        raise ValueError(f"'{text}' is not a valid name: use letters, digits, '_' and '-', starting with a letter")
    return text


def _check_expression_syntax(text: str) -> str:
    # Imported here: expressions pulls in Jinja, which the model does not otherwise need.
    from policy_engine.expressions import compile_expression

    if not text.strip():
        raise ValueError("an expression cannot be empty")
    compile_expression(text)
    return text


DurationText = Annotated[str, AfterValidator(_check_duration)]
Expr = Annotated[str, AfterValidator(_check_expression_syntax)]
Name = Annotated[str, AfterValidator(_check_name)]


@lru_cache(maxsize=4096)
def duration_of(text: str) -> Duration:
    return parse_duration(text)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# ---------------------------------------------------------------------------------------------
# Actions


class NotifyParams(_Model):
    to: list[str] = Field(min_length=1)
    template: Name


class RefundParams(_Model):
    amount: Expr
    reports: Name = "refund_completed"


class AdvancePaymentParams(_Model):
    amount: Expr
    reason: str = ""


class AssignParams(_Model):
    to: Name


class EscalateParams(_Model):
    to: Name
    level: int = Field(ge=1)


class OpenCaseParams(_Model):
    case_type: Expr
    data: dict[str, Expr] | None = None


class RecordParams(_Model):
    name: Name
    value: Expr


ACTION_PARAMS: dict[str, type[_Model]] = {
    "notify": NotifyParams,
    "refund": RefundParams,
    "advance_payment": AdvancePaymentParams,
    "assign": AssignParams,
    "escalate": EscalateParams,
    "open_case": OpenCaseParams,
    "record": RecordParams,
}

# Parameters computed when the action runs (the rest are literal).
EXPRESSION_PARAMS: dict[str, tuple[str, ...]] = {
    "refund": ("amount",),
    "advance_payment": ("amount",),
    "open_case": ("case_type",),
    "record": ("value",),
}


class Action(_Model):
    """`- notify: {to: [customer], template: approved}`: exactly one action type per list item."""

    notify: NotifyParams | None = None
    refund: RefundParams | None = None
    advance_payment: AdvancePaymentParams | None = None
    assign: AssignParams | None = None
    escalate: EscalateParams | None = None
    open_case: OpenCaseParams | None = None
    record: RecordParams | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_type(cls, value: Any) -> Any:
        if isinstance(value, dict) and len(value) > 1 and all(k in ACTION_PARAMS for k in value):
            raise ValueError("write one action per list item (`- notify: ...` and `- refund: ...` apart)")
        if isinstance(value, dict) and not value:
            raise ValueError(f"an action needs a type: one of {', '.join(ACTION_PARAMS)}")
        return value

    @property
    def type(self) -> str:
        for name in ACTION_PARAMS:
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated action without a type")

    @property
    def params(self) -> _Model:
        params: _Model = getattr(self, self.type)
        return params


# ---------------------------------------------------------------------------------------------
# Handlers


class Branch(_Model):
    if_: Expr | None = Field(default=None, alias="if")
    goto: Name | None = None
    set: dict[Name, Expr] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)
    escalate: Name | None = None
    description: str = ""


class Handler(_Model):
    """What an event, a timer, a breach or the opening does. A bare state name is short for goto."""

    count: list[Name] = Field(default_factory=list)
    decide: list[Name] = Field(default_factory=list)
    set: dict[Name, Expr] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)
    escalate: Name | None = None
    goto: Name | list[Branch] | None = None
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"goto": value} if isinstance(value, str) else value

    _many = field_validator("count", "decide", mode="before")(_one_or_many)

    @property
    def branches(self) -> list[Branch]:
        if self.goto is None:
            return []
        if isinstance(self.goto, str):
            return [Branch(goto=self.goto)]
        return self.goto

    @property
    def does_something(self) -> bool:
        return bool(self.count or self.decide or self.set or self.actions or self.escalate or self.goto)


class Timer(Handler):
    # Exactly one of the two: checked in checks.py, which can point at the key that is missing or extra.
    after: DurationText | None = None
    at: Name | None = None


# ---------------------------------------------------------------------------------------------
# Events, states


class Requirement(_Model):
    if_: Expr = Field(alias="if")
    message: str


class Event(_Model):
    # Each one of ROLES: checked in checks.py (with a "did you mean"); the schema lets editors complete them.
    roles: list[Name] = Field(min_length=1, json_schema_extra={"items": {"type": "string", "enum": list(ROLES)}})
    description: str = ""
    data: dict[Name, FieldSpec] = Field(default_factory=dict)
    require: list[Requirement] = Field(default_factory=list)


class State(_Model):
    description: str = ""
    terminal: bool = False
    on: dict[Name, Handler] = Field(default_factory=dict)
    timers: dict[Name, Timer] = Field(default_factory=dict)
    on_enter: Handler | None = None

    # A terminal state with `on`, `timers` or an `on_enter` that does more than actions is refused in
    # checks.py, at the key that should not be there.

    @model_validator(mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return {} if value is None else value


# ---------------------------------------------------------------------------------------------
# Windows, decisions, counters


class Window(_Model):
    from_: Expr = Field(alias="from")
    # Exactly one of the three: checked in checks.py, at the key that is one too many.
    length: DurationText | None = None
    months: int | Expr | None = None
    days: int | Expr | None = None
    description: str = ""


class Rule(_Model):
    id: Name
    if_: Expr | None = Field(default=None, alias="if")
    then: dict[Name, Any]
    description: str = ""


class Decision(_Model):
    description: str = ""
    rules: list[Rule] = Field(min_length=1)
    # The table compiled into one expression, built on first use (policy_engine/decisions.py).
    _compiled: Any = PrivateAttr(default=None)


class Counter(_Model):
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return {} if value is None else value


# ---------------------------------------------------------------------------------------------
# SLA clocks and escalation ladders


class Target(_Model):
    by: Expr
    cases: dict[str, DurationText] = Field(min_length=1)
    default: DurationText


def _percent(value: Any) -> Any:
    if isinstance(value, str):
        try:
            share = float(value.strip().removesuffix("%")) / 100
        except ValueError:
            raise ValueError(f"warn_at '{value}' is not a percentage such as 75%") from None
        if not value.strip().endswith("%"):
            raise ValueError(f"warn_at '{value}' is not a percentage: write it with %, such as 75%")
        if not 0 < share < 1:
            raise ValueError(f"warn_at '{value}' is not a share of the target: write more than 0% and less than 100%")
        return share
    if isinstance(value, int | float) and not isinstance(value, bool) and not 0 < value < 1:
        raise ValueError(f"warn_at {value} is not a share of the target: write a percentage such as 75%")
    return value


class SlaClock(_Model):
    description: str = ""
    start: list[Name] = Field(default_factory=lambda: ["open"])
    stop: list[Name] = Field(default_factory=list)
    pause: list[Name] = Field(default_factory=list)
    target: DurationText | Target
    # A new round starts each time the case enters a start state again after the clock stopped
    # (each repair attempt has its own 30 days).
    restart: bool = False
    warn_at: Annotated[float, Field(gt=0, lt=1)] | None = None
    on_warn: Handler | None = None
    on_breach: Handler | None = None

    _start = field_validator("start", mode="before")(_one_or_many)
    _warn = field_validator("warn_at", mode="before")(_percent)
    # `warn_at` without `on_warn` (or the reverse) is refused in checks.py, at the one that is there.


class Level(_Model):
    level: int = Field(ge=1)
    after: DurationText
    actions: list[Action] = Field(default_factory=list)
    description: str = ""


class Ladder(_Model):
    description: str = ""
    levels: list[Level] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Ladder:
        numbers = [lv.level for lv in self.levels]
        if numbers != sorted(set(numbers)):
            raise ValueError("ladder levels must be listed in increasing order, each once")
        return self


# ---------------------------------------------------------------------------------------------
# The policy


class Policy(_Model):
    policy: Name
    title: str = ""
    description: str = ""
    abstract: bool = False
    extends: Name | None = None
    case_type: Name | None = None
    when: Expr | None = None
    order: int = 100
    effective_from: dt.date | None = None
    effective_until: dt.date | None = None
    calendar: Name | None = None
    locales: list[str] = Field(default_factory=lambda: ["zh-CN", "en"], min_length=1)
    locale: Expr | None = None  # the customer's locale, e.g. case.customer.locale; default: first of locales
    data: dict[Name, FieldSpec] = Field(default_factory=dict)
    parameters: dict[Name, Any] = Field(default_factory=dict)
    windows: dict[Name, Window] = Field(default_factory=dict)
    decisions: dict[Name, Decision] = Field(default_factory=dict)
    counters: dict[Name, Counter] = Field(default_factory=dict)
    variables: dict[Name, FieldSpec] = Field(default_factory=dict)
    events: dict[Name, Event] = Field(default_factory=dict)
    open: Handler | None = None
    states: dict[Name, State] = Field(default_factory=dict)
    any_state: dict[Name, Handler] = Field(default_factory=dict)
    sla: dict[Name, SlaClock] = Field(default_factory=dict)
    escalations: dict[Name, Ladder] = Field(default_factory=dict)
    listing: Listing = Field(default_factory=lambda: Listing())

    @field_validator("effective_from", "effective_until", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            raise ValueError("write a date (YYYY-MM-DD), not a date-time")
        return value

    @property
    def terminal_states(self) -> set[str]:
        return {name for name, st in self.states.items() if st.terminal}


class Listing(_Model):
    """Values that case lists and Temporal search attributes show (MerchantId, Priority)."""

    merchant: Expr | None = None
    priority: Expr | None = None


class PolicyFile(_Model):
    policies: list[dict[str, Any]] = Field(min_length=1)
