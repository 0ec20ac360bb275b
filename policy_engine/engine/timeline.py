"""The audit trail of a case: how the engine writes each kind of entry, and what `via` says.

On the wire an entry is `TimelineEntry` (`{"at", "kind", "name", "detail": {...}, "policy_version"}`),
and its JSON never changes: it travels in Temporal payloads (the case state carried across
continue-as-new, the `timeline` query) and in `simulate --json`. `TimelineRecorder` has one method
per kind of entry (and variant), each giving `detail` its keys in their wire order; it builds the
wire entry directly, with no typed model on the engine's path. Readers get each entry typed from
`timeline_entries.typed_entry`, whose models declare the same keys (a test holds the two together).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, NamedTuple

from policy_engine.engine.case import Actor, PolicyFailed, TimelineEntry, TimelineKind
from policy_engine.engine.digest import digest_of

# -- what moved the case ------------------------------------------------------------------------
# Transition entries say what moved the case (`detail.via`), failures what was being handled
# (`while`). The engine writes that text with the functions below (a handler's is its name); `Via`
# reads it back. Names cannot hold spaces, so the kinds are told apart by the words around the name.

OPENING = "open"


def sla_via(clock: str, which: Literal["warning", "breach"]) -> str:
    """An SLA clock's handler: `sla CLOCK warning`, `sla CLOCK breach`."""
    return f"sla {clock} {which}"


def escalation_via(ladder: str) -> str:
    """A level of an escalation ladder: `escalation LADDER`."""
    return f"escalation {ladder}"


def on_enter_via(state: str) -> str:
    """A state's `on_enter`: `STATE on_enter`."""
    return f"{state} on_enter"


ViaKind = Literal["open", "handler", "sla", "escalation", "on_enter"]


class Via(NamedTuple):
    """What moved the case, read back from its text (`open`, an event's or timer's name, ...).

    A value for readers (coverage tells an SLA clock's move from a state's by `kind`); the engine
    writes the text directly, so that a move costs no object.
    """

    kind: ViaKind
    name: str = ""  # the event or timer, the clock, the ladder, or the state entered
    which: Literal["warning", "breach", ""] = ""  # an SLA clock's handler

    def __str__(self) -> str:
        if self.kind == "sla" and self.which:
            return sla_via(self.name, self.which)
        if self.kind == "escalation":
            return escalation_via(self.name)
        if self.kind == "on_enter":
            return on_enter_via(self.name)
        return OPENING if self.kind == "open" else self.name

    @staticmethod
    def parse(text: str) -> Via:
        words = text.split(" ")
        if len(words) == 3 and words[0] == "sla" and words[2] in ("warning", "breach"):
            return Via("sla", words[1], "warning" if words[2] == "warning" else "breach")
        if len(words) == 2 and words[1] == "on_enter":
            return Via("on_enter", words[0])
        if len(words) == 2 and words[0] == "escalation":
            return Via("escalation", words[1])
        # `open` is also what a handler named `open` reads as: the entry's `from` tells them apart.
        return Via("open") if text == OPENING else Via("handler", text)


# -- writing ------------------------------------------------------------------------------------

SlaStatus = Literal["running", "paused", "warning", "breached", "met", "stopped"]


class TimelineRecorder:
    """Appends the entries of one step to a case's timeline, all at the step's time."""

    __slots__ = ("_at", "_entries", "_version")

    def __init__(self, entries: list[TimelineEntry], at: dt.datetime, policy_version: str) -> None:
        self._entries = entries
        self._at = at
        self._version = policy_version

    def _add(self, kind: TimelineKind, name: str, detail: dict[str, Any]) -> None:
        self._entries.append(
            TimelineEntry(at=self._at, kind=kind, name=name, detail=detail, policy_version=self._version)
        )

    def opened(self, case_type: str, policy_id: str, version: str) -> None:
        self._add("open", case_type, {"policy": policy_id, "version": version})

    def event(self, name: str, actor: Actor, data: dict[str, Any], key: str | None) -> None:
        detail: dict[str, Any] = {"actor": actor.model_dump(), "data": data}
        if key:
            detail["key"] = key
        self._add("event", name, detail)

    def refused(self, name: str, reason: str, actor: Actor, data: Any) -> None:
        """A refused event: its data is not kept, only its digest and size (see `digest`); `data`
        stays in the entry, empty, for readers of entries written before."""
        digest = digest_of(data)
        detail = {"reason": reason, "actor": actor.model_dump(), "data": {}}
        self._add("refused", name, detail | {"data_sha256": digest.sha256, "data_bytes": digest.size})

    def timer_fired(self, timer: str, state: str) -> None:
        self._add("timer", timer, {"state": state})

    def timer_not_set(self, timer: str, error: str) -> None:
        self._add("timer", timer, {"error": error})

    def transition(self, source: str | None, target: str, via: str) -> None:
        self._add("transition", "", {"from": source, "to": target, "via": via})

    def moves_stopped(self, error: str, target: str) -> None:
        self._add("transition", "", {"error": error, "to": target})

    def condition_failed(self, error: str, condition: str) -> None:
        self._add("transition", "", {"error": error, "condition": condition})

    def decision(
        self, table: str, rule: str | None, outputs: dict[str, Any], inputs: dict[str, Any], errors: list[str]
    ) -> None:
        detail: dict[str, Any] = {"rule": rule, "outputs": outputs, "inputs": inputs}
        if errors:
            detail["errors"] = errors
        self._add("decision", table, detail)

    def window_failed(self, window: str, error: str) -> None:
        self._add("decision", window, {"window": window, "error": error})

    def action_ran(self, action_type: str, key: str, params: dict[str, Any]) -> None:
        self._add("action", action_type, {"key": key, "params": params})

    def record_kept(self, action_type: str, params: dict[str, Any]) -> None:
        self._add("action", action_type, {"params": params})

    def action_failed(self, action_type: str, error: str) -> None:
        self._add("action", action_type, {"error": error, "ran": False})

    def clock_running(self, clock: str, due: dt.datetime) -> None:
        self._add("sla", clock, {"status": "running", "due": due.isoformat()})

    def clock_paused(self, clock: str, remaining_seconds: int | None) -> None:
        self._add("sla", clock, {"status": "paused", "remaining_seconds": remaining_seconds})

    def clock_warning(self, clock: str, due: dt.datetime | None) -> None:
        self._add("sla", clock, {"status": "warning", "due": due.isoformat() if due else None})

    def clock_ended(self, clock: str, status: Literal["breached", "met", "stopped"]) -> None:
        self._add("sla", clock, {"status": status})

    def ladder_started(self, ladder: str, cause: str) -> None:
        self._add("escalation", ladder, {"started": True, "cause": cause})

    def ladder_climbed(self, ladder: str, level: int) -> None:
        self._add("escalation", ladder, {"level": level})

    def ladder_stopped(self, ladder: str) -> None:
        self._add("escalation", ladder, {"stopped": True})

    def counted(self, counter: str, value: int) -> None:
        self._add("counter", counter, {"value": value})

    def variable_set(self, variable: str, value: Any) -> None:
        self._add("variable", variable, {"value": value})

    def variable_failed(self, variable: str, error: str) -> None:
        self._add("variable", variable, {"error": error})

    def closed(self, state: str) -> None:
        self._add("close", state, {})

    def event_not_applied(self, failure: PolicyFailed, event: str, actor: Actor, data: dict[str, Any]) -> None:
        detail = {
            "message": f"{failure.message}; the event was not applied",
            "event": event,
            "actor": actor.model_dump(),
            "data": data,
        }
        self._add("error", failure.decision or "goto", detail | _failure_context(failure))

    def timer_out_of_range(self, timer: str, message: str) -> None:
        self._add("error", "out_of_range", {"message": message, "timer": timer})

    def handler_stopped(self, failure: PolicyFailed, timer: str) -> None:
        detail = {"message": f"{failure.message}; the rest of the handler did not run", "timer": timer}
        self._add("error", failure.decision or "goto", detail | _failure_context(failure))


def _failure_context(failure: PolicyFailed) -> dict[str, Any]:
    """Where the policy failed: the decision row (with the inputs it read) or the goto condition."""
    if failure.decision is not None:
        return {"decision": failure.decision, "rule": failure.rule, "inputs": failure.inputs, "while": failure.handling}
    return {"condition": failure.condition, "while": failure.handling}


# -- cheap reads on the simulator's path --------------------------------------------------------
# The simulator reads two facts of every result; typed entries for them would cost more than a tenth
# of a scenario's run, and a call per entry a few percent.


def states_entered(timeline: list[TimelineEntry]) -> list[str]:
    """The states the case entered, in order, each once."""
    entered: list[str] = []
    for entry in timeline:
        if entry.kind == "transition":
            target = entry.detail.get("to")
            if target and target not in entered:
                entered.append(target)
    return entered


def failure_messages(timeline: list[TimelineEntry]) -> list[str]:
    """Where the policy failed: the `error` entries, and each action, variable, window or condition
    that could not be computed (a refund whose amount errs pays nothing: a policy test must say so)."""
    messages: list[str] = []
    for entry in timeline:
        if entry.kind == "error":
            messages.append(str(entry.detail["message"]))
        elif "error" in entry.detail:
            what = f"{entry.kind} '{entry.name}'" if entry.name else entry.kind
            messages.append(f"{what} failed: {entry.detail['error']}")
    return messages
