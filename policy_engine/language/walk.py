"""Ways through a policy: its handlers, their moves, actions and expressions, each with its place.

The checks, coverage, the diagram and the diff all walk a policy the same way; they do it here.
A place is a `DocPath` into the policy's source, so a problem found on the way is reported where
the operator wrote it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from policy_engine.language.actions import Action
from policy_engine.language.model import Handler, Policy
from policy_engine.language.yamlsource import DocPath


class Move(NamedTuple):
    """A way a handler moves the case: to `target`, when `condition` holds (None: always)."""

    target: str
    condition: str | None


def moves(handler: Handler | None) -> list[Move]:
    """The moves of a handler in the order it tries them (none for no handler)."""
    if handler is None:
        return []
    return [Move(branch.goto, branch.if_) for branch in handler.branches if branch.goto is not None]


def targets(handler: Handler | None) -> set[str]:
    """The states a handler may move the case to."""
    return {move.target for move in moves(handler)}


def handlers(policy: Policy) -> Iterator[tuple[Handler, DocPath, str | None]]:
    """Every handler with its place and the event it handles (None for the opening, timers, `on_enter`
    and SLA handlers, where no event's data is in scope)."""
    if policy.open is not None:
        yield policy.open, ("open",), None
    for state_name, state in policy.states.items():
        for event, handler in state.on.items():
            yield handler, ("states", state_name, "on", event), event
        for timer_name, timer in state.timers.items():
            yield timer, ("states", state_name, "timers", timer_name), None
        if state.on_enter is not None:
            yield state.on_enter, ("states", state_name, "on_enter"), None
    for event, handler in policy.any_state.items():
        yield handler, ("any_state", event), event
    for clock_name, clock in policy.sla.items():
        if clock.on_warn is not None:
            yield clock.on_warn, ("sla", clock_name, "on_warn"), None
        if clock.on_breach is not None:
            yield clock.on_breach, ("sla", clock_name, "on_breach"), None


def all_actions(policy: Policy) -> Iterator[tuple[Action, DocPath]]:
    """Every action of the policy with its place: in handlers, their branches and ladder levels."""
    for handler, path, _ in handlers(policy):
        for i, action in enumerate(handler.actions):
            yield action, (*path, "actions", i)
        if isinstance(handler.goto, list):
            for b, branch in enumerate(handler.goto):
                for i, action in enumerate(branch.actions):
                    yield action, (*path, "goto", b, "actions", i)
    for ladder_name, ladder in policy.escalations.items():
        for li, level in enumerate(ladder.levels):
            for i, action in enumerate(level.actions):
                yield action, ("escalations", ladder_name, "levels", li, "actions", i)


def handler_expressions(handler: Handler, path: DocPath) -> Iterator[tuple[DocPath, str]]:
    """The expressions a handler evaluates, with their places (conditions, values set, action values)."""
    for name, text in handler.set.items():
        yield (*path, "set", name), text
    yield from action_expressions(handler.actions, (*path, "actions"))
    if isinstance(handler.goto, list):
        for b, branch in enumerate(handler.goto):
            if branch.if_ is not None:
                yield (*path, "goto", b, "if"), branch.if_
            for name, text in branch.set.items():
                yield (*path, "goto", b, "set", name), text
            yield from action_expressions(branch.actions, (*path, "goto", b, "actions"))


def action_expressions(actions: list[Action], path: DocPath) -> Iterator[tuple[DocPath, str]]:
    """The expressions of a list of actions' parameters, with their places."""
    for i, action in enumerate(actions):
        for where, text in action.expressions():
            yield (*path, i, action.type, *where), text
