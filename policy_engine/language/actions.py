"""Actions, declared once: what a handler may ask the outside world to do.

Each action type has one `ActionSpec` in `ACTIONS`: its name (the key written in a policy, as in
`- refund: {amount: ...}`), the model of its parameters, which parameters are expressions computed
when it runs, the queue it names (which a `notify` may then send to), and what `checks.py` checks
beyond the names its expressions read. The policy model's `Action` is built from these specs; the
engine implements each action by name (`policy_engine.engine.actions`), and a test holds the two
lists equal.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import Field, create_model, model_validator

from policy_engine.language.problems import unknown_name
from policy_engine.language.terms import Expr, Name, PolicyModel
from policy_engine.language.yamlsource import DocPath

if TYPE_CHECKING:
    from policy_engine.language.scope import Scope


class NotifyParams(PolicyModel):
    to: list[str] = Field(min_length=1)
    template: Name


class RefundParams(PolicyModel):
    amount: Expr
    reports: Name = "refund_completed"


class AdvancePaymentParams(PolicyModel):
    amount: Expr
    reason: str = ""


class AssignParams(PolicyModel):
    to: Name


class EscalateParams(PolicyModel):
    to: Name
    level: int = Field(ge=1)


class OpenCaseParams(PolicyModel):
    case_type: Expr
    data: dict[str, Expr] | None = None


class RecordParams(PolicyModel):
    name: Name
    value: Expr


class ActionChecks(Protocol):
    """What an action's own check may use: the checker of the policy the action is in."""

    @property
    def event_names(self) -> Collection[str]: ...

    @property
    def recipients(self) -> Collection[str]: ...

    def error(self, path: DocPath, message: str, *, at_key: bool = False) -> None: ...

    def check_template(self, name: str, path: DocPath, scope: Scope) -> None: ...


P = TypeVar("P", bound=PolicyModel)


@dataclass(frozen=True)
class ActionSpec(Generic[P]):
    name: str
    params: type[P]
    # Parameters computed when the action runs: an expression, or a mapping of them (the rest are literal).
    expressions: tuple[str, ...] = ()
    # The parameter naming a queue (a team) the action hands the case to: a `notify` may send there.
    queue: str | None = None
    # Checks beyond the names its expressions read, at `path` (the action's parameters).
    check: Callable[[ActionChecks, P, DocPath, Scope], None] | None = None

    def expressions_of(self, params: P) -> Iterator[tuple[tuple[str, ...], str]]:
        """The expressions of an action's parameters, with their places below the parameters."""
        for key in self.expressions:
            value = getattr(params, key)
            if isinstance(value, str):
                yield (key,), value
            elif isinstance(value, Mapping):
                for name, text in value.items():
                    yield (key, name), text


def _check_notify(checks: ActionChecks, params: NotifyParams, path: DocPath, scope: Scope) -> None:
    for i, recipient in enumerate(params.to):
        if recipient not in checks.recipients:
            checks.error((*path, "to", i), unknown_name("recipient", recipient, checks.recipients))
    checks.check_template(params.template, (*path, "template"), scope)


def _check_refund(checks: ActionChecks, params: RefundParams, path: DocPath, scope: Scope) -> None:
    if params.reports not in checks.event_names:
        checks.error((*path, "reports"), unknown_name("event", params.reports, checks.event_names))


_SPECS: tuple[ActionSpec[Any], ...] = (
    ActionSpec("notify", NotifyParams, check=_check_notify),
    ActionSpec("refund", RefundParams, expressions=("amount",), check=_check_refund),
    ActionSpec("advance_payment", AdvancePaymentParams, expressions=("amount",)),
    ActionSpec("assign", AssignParams, queue="to"),
    ActionSpec("escalate", EscalateParams, queue="to"),
    ActionSpec("open_case", OpenCaseParams, expressions=("case_type", "data")),
    ActionSpec("record", RecordParams, expressions=("value",)),
)
# In the order operators see them listed (and the policy schema lists them).
ACTIONS: dict[str, ActionSpec[Any]] = {spec.name: spec for spec in _SPECS}


class ActionBase(PolicyModel):
    """What every action is, whatever its type: one type per list item, and its parameters."""

    @model_validator(mode="before")
    @classmethod
    def _one_type(cls, value: Any) -> Any:
        if isinstance(value, dict) and len(value) > 1 and all(k in ACTIONS for k in value):
            raise ValueError("write one action per list item (`- notify: ...` and `- refund: ...` apart)")
        if isinstance(value, dict) and not value:
            raise ValueError(f"an action needs a type: one of {', '.join(ACTIONS)}")
        return value

    @property
    def type(self) -> str:
        for name in ACTIONS:
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated action without a type")

    @property
    def spec(self) -> ActionSpec[Any]:
        return ACTIONS[self.type]

    @property
    def params(self) -> PolicyModel:
        params: PolicyModel = getattr(self, self.type)
        return params

    def expressions(self) -> Iterator[tuple[tuple[str, ...], str]]:
        """The parameters computed when the action runs, with their places below the action."""
        return self.spec.expressions_of(self.params)


_ACTION_DOC = "`- notify: {to: [customer], template: approved}`: exactly one action type per list item."

if TYPE_CHECKING:

    class Action(ActionBase):
        """`- notify: {to: [customer], template: approved}`: exactly one action type per list item."""

else:
    # One optional key per action type, from the specs: the schema editors complete from lists them.
    Action = create_model(
        "Action",
        __base__=ActionBase,
        __doc__=_ACTION_DOC,
        __module__=__name__,
        **{spec.name: (spec.params | None, None) for spec in _SPECS},
    )
