"""The policy language as typed models (see docs/policy-language.md).

These models check the shape of a policy: keys, types, durations. Cross-references (a `goto` to a
state that does not exist, an expression naming an unknown field) are checked in `checks.py` (and the
modules it calls), where the whole policy is known. Actions are declared in `actions.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Discriminator, Field, GetJsonSchemaHandler, PrivateAttr, Tag, field_validator, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from policy_engine.language.actions import Action
from policy_engine.language.fields import FieldSpec
from policy_engine.language.terms import DurationText, Expr, Name, PolicyModel, one_or_many

# Who may send events and receive notifications: the roles of the after-sales loops (shared
# loops.md). A fixed part of the language, not something a policy declares, so that a misspelt role
# (`roles: [merchnat]`) is refused when the policy loads instead of refusing every real merchant.
ROLES: tuple[str, ...] = ("customer", "merchant", "agent", "supervisor", "mediator", "system")

# The roles a case has a party of its own in, named by its data when it opens: the customer who asked
# and the merchant who sold. `parties` binds them, so that an event from such a role must come from
# that very party. Agents and supervisors are the platform's staff, who work cases from queues (any
# of them may act on any case); a mediator is appointed only when mediation starts, so the case data
# does not name one; the system is the platform and its services, not a person.
PARTY_ROLES: tuple[str, ...] = ("customer", "merchant")


# ---------------------------------------------------------------------------------------------
# Handlers


class Branch(PolicyModel):
    if_: Expr | None = Field(default=None, alias="if")
    goto: Name | None = None
    set: dict[Name, Expr] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)
    escalate: Name | None = None
    description: str = ""


def _goto_form(value: Any) -> str:
    """`goto:` is a state name or a list of branches, told apart by what is written: branches that
    have a mistake are reported as such, not also as a state name they never were (nor a misspelt
    name as a list). A mapping is one branch written without its `-`: it is reported as not a list."""
    return "list[Branch]" if isinstance(value, list | dict) else "str"


class _AnyOf:
    """The JSON Schema of a union that `Discriminator` chooses from, written `anyOf` as pydantic
    writes a plain union (it writes `oneOf` here), so that the schema editors use does not change."""

    @staticmethod
    def __get_pydantic_json_schema__(schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        return {"anyOf": json_schema.pop("oneOf"), **json_schema}


# The tags are pydantic's own names for the two alternatives, which error locations skip (loader.py).
Goto = Annotated[
    Annotated[Name, Tag("str")] | Annotated[list[Branch], Tag("list[Branch]")],
    Discriminator(_goto_form),
    _AnyOf,
]


class Handler(PolicyModel):
    """What an event, a timer, a breach or the opening does. A bare state name is short for goto."""

    count: list[Name] = Field(default_factory=list)
    decide: list[Name] = Field(default_factory=list)
    set: dict[Name, Expr] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)
    escalate: Name | None = None
    goto: Goto | None = None
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"goto": value} if isinstance(value, str) else value

    _many = field_validator("count", "decide", mode="before")(one_or_many)

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
    # Exactly one of the two: checked in definition_checks.py, which can point at the key missing or extra.
    after: DurationText | None = None
    at: Name | None = None


# ---------------------------------------------------------------------------------------------
# Events, states


class Requirement(PolicyModel):
    if_: Expr = Field(alias="if")
    message: str


class Event(PolicyModel):
    # Each one of ROLES: checked in checks.py (with a "did you mean"); the schema lets editors complete them.
    roles: list[Name] = Field(min_length=1, json_schema_extra={"items": {"type": "string", "enum": list(ROLES)}})
    description: str = ""
    data: dict[Name, FieldSpec] = Field(default_factory=dict)
    require: list[Requirement] = Field(default_factory=list)


class State(PolicyModel):
    description: str = ""
    terminal: bool = False
    on: dict[Name, Handler] = Field(default_factory=dict)
    timers: dict[Name, Timer] = Field(default_factory=dict)
    on_enter: Handler | None = None

    # A terminal state with `on`, `timers` or an `on_enter` that does more than actions is refused in
    # definition_checks.py, at the key that should not be there.

    @model_validator(mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return {} if value is None else value


# ---------------------------------------------------------------------------------------------
# Windows, decisions, counters


class Window(PolicyModel):
    from_: Expr = Field(alias="from")
    # Exactly one of the three: checked in definition_checks.py, at the key that is one too many.
    length: DurationText | None = None
    months: int | Expr | None = None
    days: int | Expr | None = None
    description: str = ""


class Rule(PolicyModel):
    id: Name
    if_: Expr | None = Field(default=None, alias="if")
    then: dict[Name, Any]
    description: str = ""


class Decision(PolicyModel):
    description: str = ""
    rules: list[Rule] = Field(min_length=1)
    # The table compiled into one expression, built on first use (decisions.py).
    _compiled: Any = PrivateAttr(default=None)


class Counter(PolicyModel):
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return {} if value is None else value


# ---------------------------------------------------------------------------------------------
# SLA clocks and escalation ladders


class Target(PolicyModel):
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


class SlaClock(PolicyModel):
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

    _start = field_validator("start", mode="before")(one_or_many)
    _warn = field_validator("warn_at", mode="before")(_percent)
    # `warn_at` without `on_warn` (or the reverse) is refused in definition_checks.py, at the one there.


class Level(PolicyModel):
    level: int = Field(ge=1)
    after: DurationText
    actions: list[Action] = Field(default_factory=list)
    description: str = ""


class Ladder(PolicyModel):
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


class Policy(PolicyModel):
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
    # Role -> the case value naming that role's party (`merchant: case.order.merchant_id`): an event
    # from a bound role is admitted only from that party. Roles one of PARTY_ROLES and the expression
    # a text field of the case data: checked in definition_checks.py (`check_parties`), where written.
    parties: dict[Name, Expr] = Field(
        default_factory=dict,
        description="Who the case's own parties are: role -> the case data field holding its id "
        "(customer: case.customer.id). An event from a bound role must come from that party.",
        # In an override, `null` unbinds a role the parent binds.
        json_schema_extra={
            "propertyNames": {"enum": list(PARTY_ROLES)},
            "additionalProperties": {"type": ["string", "null"]},
        },
    )

    @field_validator("effective_from", "effective_until", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            raise ValueError("write a date (YYYY-MM-DD), not a date-time")
        return value

    @property
    def terminal_states(self) -> set[str]:
        return {name for name, st in self.states.items() if st.terminal}


class Listing(PolicyModel):
    """Values that case lists and Temporal search attributes show (MerchantId, Priority)."""

    merchant: Expr | None = None
    priority: Expr | None = None


class PolicyFile(PolicyModel):
    policies: list[dict[str, Any]] = Field(min_length=1)
