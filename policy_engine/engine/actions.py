"""Actions at run time: what each action type does, registered by the name the language declares.

An implementation computes the action's parameters from the case (`refund: {amount: ...}` is an
expression) and says what follows: a command the driver carries out under an idempotency key that is
stable across replays (`<case_id>/<seq>/<type>`), or a value kept in the case (`record`). It does not
change the case itself; `run_action` does, in one place. Every action declared in
`policy_engine.language.ACTIONS` has one implementation here (a test holds them equal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from policy_engine.engine.bounds import number_problem
from policy_engine.engine.case import EventIn, RunAction
from policy_engine.engine.redaction import without_values
from policy_engine.language import (
    Action,
    AdvancePaymentParams,
    AssignParams,
    EscalateParams,
    ExpressionError,
    NotifyParams,
    OpenCaseParams,
    PolicyModel,
    RecordParams,
    RefundParams,
    compile_expression,
    compile_template,
    plain,
    value_kind,
)

if TYPE_CHECKING:
    from policy_engine.engine.context import StepContext

Names = Mapping[str, Any]


class Dispatch(NamedTuple):
    """Run the action outside: a command for the driver."""

    params: dict[str, Any]
    reports: str | None = None  # the event by which its success comes back to the case
    escalation_level: int | None = None  # the case's escalation level rises to this first


class Keep(NamedTuple):
    """Keep a value in the case's `records`; nothing runs outside."""

    name: str
    value: Any
    params: dict[str, Any]  # as the audit trail shows them


Implementation = Callable[["StepContext", Any, Names], Dispatch | Keep]
ACTION_IMPLEMENTATIONS: dict[str, Implementation] = {}

P = TypeVar("P", bound=PolicyModel)


def implements(name: str) -> Callable[[Callable[[StepContext, P, Names], Dispatch | Keep]], Implementation]:
    """Registers the implementation of the action type `name`; the parameters' model is the declared one."""

    def register(implementation: Callable[[StepContext, P, Names], Dispatch | Keep]) -> Implementation:
        ACTION_IMPLEMENTATIONS[name] = implementation
        return implementation

    return register


def run_actions(context: StepContext, actions: list[Action], event: EventIn | None) -> None:
    for action in actions:
        run_action(context, action, event)


def run_action(context: StepContext, action: Action, event: EventIn | None) -> None:
    """Compute the action's parameters and carry out what follows; an expression that errs stops it."""
    action_type = action.type
    case = context.case
    try:
        outcome = ACTION_IMPLEMENTATIONS[action_type](context, getattr(action, action_type), context.names(event))
    except ExpressionError as exc:
        context.audit.action_failed(action_type, without_values(str(exc)))
        return
    context.check_value(outcome.params, action_type)
    if isinstance(outcome, Keep):
        context.check_value(outcome.value, "records", outcome.name)
        case.records[outcome.name] = outcome.value
        context.audit.record_kept(action_type, outcome.params)
        return
    if outcome.escalation_level is not None:
        case.escalation_level = max(case.escalation_level, outcome.escalation_level)
    case.action_seq += 1
    key = f"{case.case_id}/{case.action_seq}/{action_type}"
    context.commands.append(RunAction(key=key, type=action_type, params=outcome.params, reports=outcome.reports))
    context.audit.action_ran(action_type, key, outcome.params)


def _value(text: str, names: Names) -> Any:
    return plain(compile_expression(text)(names))


_CENT = Decimal("0.01")


def _money(context: StepContext, action_type: str, text: str, names: Names) -> float:
    """An amount of money: a number of 0 or more, to the cent (half up).

    Expressions compute in binary floats, where 3 x 0.10 is 0.30000000000000004; a payment carries
    what a person would write, 0.3. Anything but a number of 0 or more fails the action; a number
    out of the engine's range (NaN, inf, 10**30: Decimal cannot take it to the cent) refuses the
    input that led to it. Messages say what the amount is, never its value (it may be a caller's).
    """
    value = _value(text, names)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(f"an amount of money must be a number, not {value_kind(value) or 'nothing'}")
    problem = number_problem(value)
    if problem is not None:
        raise context.out_of_range(f"the amount of '{action_type}' {problem}")
    if value < 0:
        raise ExpressionError("an amount of money must be a number of 0 or more")
    return float(Decimal(repr(value)).quantize(_CENT, rounding=ROUND_HALF_UP))


@implements("notify")
def _notify(context: StepContext, params: NotifyParams, names: Names) -> Dispatch | Keep:
    return Dispatch(notification(context, params.template, params.to, names))


@implements("refund")
def _refund(context: StepContext, params: RefundParams, names: Names) -> Dispatch | Keep:
    return Dispatch({"amount": _money(context, "refund", params.amount, names)}, reports=params.reports)


@implements("advance_payment")
def _advance_payment(context: StepContext, params: AdvancePaymentParams, names: Names) -> Dispatch | Keep:
    return Dispatch({"amount": _money(context, "advance_payment", params.amount, names), "reason": params.reason})


@implements("assign")
def _assign(context: StepContext, params: AssignParams, names: Names) -> Dispatch | Keep:
    return Dispatch({"to": params.to})


@implements("escalate")
def _escalate(context: StepContext, params: EscalateParams, names: Names) -> Dispatch | Keep:
    return Dispatch({"to": params.to, "level": params.level}, escalation_level=params.level)


@implements("open_case")
def _open_case(context: StepContext, params: OpenCaseParams, names: Names) -> Dispatch | Keep:
    case = context.case
    case_type = _value(params.case_type, names)
    if params.data is not None:
        data = {key: _value(text, names) for key, text in params.data.items()}
    else:
        data = dict(case.data)
    # The linked case's id: stable across replays, like the action's key (its sequence number).
    link_id = f"{case.case_id}-{case_type}-{case.action_seq + 1}"
    return Dispatch({"case_type": case_type, "case_id": link_id, "data": data, "linked_to": case.case_id})


@implements("record")
def _record(context: StepContext, params: RecordParams, names: Names) -> Dispatch | Keep:
    value = _value(params.value, names)
    return Keep(params.name, value, {"name": params.name, "value": value})


def notification(context: StepContext, template: str, to: list[str], names: Names) -> dict[str, Any]:
    """A notification's parameters: its text rendered in the customer's locale."""
    locale = customer_locale(context, names)
    texts = context.resolved.templates.get(template, {})
    source = texts.get(locale) or next(iter(texts.values()), "")
    message = compile_template(source).render(names)
    return {"to": list(to), "template": template, "locale": locale, "message": message}


def customer_locale(context: StepContext, names: Names) -> str:
    locales = context.policy.locales
    if context.policy.locale:
        try:
            value = compile_expression(context.policy.locale)(names)
            if value in locales:
                return str(value)
        except ExpressionError:
            pass
    return locales[0]
