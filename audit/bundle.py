"""A case's audit bundle: one document that stands on its own (`aftersales audit show`).

Everything comes from the case's histories and the outbox: who sent what and when, the pinned
policy's content and hash, the case's trail as its pinned policy makes it from those inputs (equal to
what the case recorded when it verifies, which the bundle says), the SLA clocks against their
targets, the effects with their delivery status, and the verification result.

Who a sender was: the worker's verdict on a signalled event's token names the principal it admitted
(`check_caller`, recorded); for updates and the opening the principal is read from the token's claims
WITHOUT checking the signature, for display only (the update validator checked it when it admitted the
event; a refused one left no trace in the history: the worker's refusal log, in the ledger, has it,
under `refused_attempts`). The shape is `BUNDLE_VERSION` and is documented in docs/audit.md.
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_core import to_json

from audit.history import CaseHistory, CaseInput
from audit.refusals import attempt_of
from audit.replay import replay_case
from audit.verify import Verdict, pinned_of
from audit.zones import BundleZone, bundle_zone, iso_in
from service.identity.admission import unverified_claims
from workflows.contract import status_of, workflow_id_for

BUNDLE_VERSION = 1


def _plain(value: Any) -> Any:
    return json.loads(to_json(value))


def _sender(received: CaseInput) -> dict[str, Any]:
    request = received.request
    assert request is not None
    checked = received.verdict is not None and received.verdict.principal is not None
    principal = (
        received.verdict.principal if checked and received.verdict else unverified_claims(request.token).get("iss")
    )
    return {
        "principal": principal,
        "principal_from": "worker" if checked else "token claims (unchecked, for display)",
        "role": request.role,
        "actor_id": request.actor_id,
    }


def _input(number: int, received: CaseInput) -> dict[str, Any]:
    entry: dict[str, Any] = {"number": number, "at": received.at.isoformat(), "kind": received.kind}
    if received.request is not None:
        entry |= {"event": received.request.name, "data": _plain(received.request.data), **_sender(received)}
        if received.verdict is not None and not received.verdict.admitted:
            entry["refused"] = received.verdict.reason
    elif received.action is not None:
        entry["action"] = received.action.type
        entry["key"] = received.action.key
        entry["result"] = received.failure or (
            "completed" if received.outcome and received.outcome.completed else "handed over"
        )
    return entry


def _clocks(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each SLA clock: its target (the due time), its outcome and when it reached it."""
    clocks: dict[str, dict[str, Any]] = {}
    for entry in timeline:
        if entry["kind"] != "sla":
            continue
        clock = clocks.setdefault(entry["name"], {"name": entry["name"], "started_at": entry["at"], "due": None})
        clock["status"] = entry["detail"].get("status")
        clock["since"] = entry["at"]
        clock["due"] = entry["detail"].get("due") or clock["due"]
    return list(clocks.values())


def _effects(case: CaseHistory, outbox_rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    rows = {str(row["key"]): row for row in outbox_rows or []}
    effects = []
    for number, action in case.actions:
        row = rows.get(action.key)
        params = {k: v for k, v in _plain(action.params).items() if k != "message"}
        effect: dict[str, Any] = {"after_input": number, "key": action.key, "type": action.type, "params": params}
        if "message" in action.params:
            effect["message"] = action.params["message"]
        if outbox_rows is None:
            effect["delivery"] = "unknown (no outbox here)"
        elif row is None:
            effect["delivery"] = "not in the outbox"
        else:
            effect["delivery"] = "delivered" if row.get("delivered_at") else "in the outbox, not marked delivered"
            effect["delivered_at"] = row.get("delivered_at")
            effect["attempts"] = row.get("attempts")
        effects.append(effect)
    return effects


def _times_in(bundle: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """Every time of the bundle in `zone`, ISO 8601 with its offset (the record's own are UTC, or in
    the zone of the opening's caller): a reader compares them at a glance."""
    bundle["opened_at"] = iso_in(bundle["opened_at"], zone)
    for key, fields in _TIMES.items():
        for row in bundle[key] or []:
            for name in fields:
                if name in row:
                    row[name] = iso_in(row[name], zone)
    return bundle


# The bundle's lists and, in each row, the fields that are times.
_TIMES = {
    "inputs": ("at",),
    "effects": ("delivered_at",),
    "refused_attempts": ("at",),
    "timeline": ("at",),
    "decisions": ("at",),
    "transitions": ("at",),
    "sla": ("started_at", "due", "since"),
}


def audit_bundle(
    case: CaseHistory,
    verdict: Verdict,
    outbox_rows: list[dict[str, Any]] | None,
    refusal_rows: list[dict[str, Any]] | None = None,
    zone: BundleZone | None = None,
) -> dict[str, Any]:
    """The bundle as JSON-ready data (`outbox_rows`: the case's outbox rows, None without an outbox;
    `refusal_rows`: its rows of the ledger's `refusals` table, None without a ledger), its times in
    `zone` (default: the pinned policy's calendar's, else UTC)."""
    policy = pinned_of(case)
    zone = zone or bundle_zone(policy)
    bundle: dict[str, Any] = {
        "bundle_version": BUNDLE_VERSION,
        "time_zone": zone.name,
        "time_zone_from": zone.source,
        "case_id": case.case_id,
        "case_type": case.opening.case_type,
        "workflow_id": workflow_id_for(case.case_id),
        "opened_at": case.opened_at.isoformat() if case.resolve or case.opening.opened_at else None,
        "opening": {
            "data": _plain(case.opening.data),
            "principal": unverified_claims(case.opening.token).get("iss"),
            "principal_from": "token claims (unchecked, for display)",
        },
        "refused": case.refused,
        "verification": {
            "verified": verdict.verified,
            "inputs": verdict.inputs,
            "divergences": [
                {"at_input": d.at_input, "where": d.where, "message": d.message} for d in verdict.divergences
            ],
            "notes": list(verdict.notes),
        },
        "inputs": [_input(n, received) for n, received in enumerate(case.inputs, start=1)],
        "effects": _effects(case, outbox_rows),
        "refused_attempts": None if refusal_rows is None else [attempt_of(row) for row in refusal_rows],
        "policy": None,
        "status": None,
        "timeline": [],
        "decisions": [],
        "transitions": [],
        "sla": [],
    }
    if policy is None:
        return _times_in(bundle, zone.zone)
    bundle["policy"] = {
        "id": policy.id,
        "version": policy.version,
        "content": _plain(case.pinned.policy_content) if case.pinned else None,
    }
    replay = replay_case(case, policy)
    if replay.refused is not None or not replay.states:
        return _times_in(bundle, zone.zone)
    timeline = [_plain(entry) for entry in replay.final.timeline]
    status = status_of(replay.final, {})
    bundle["status"] = {"state": status.state, "closed": status.closed, "escalation_level": status.escalation_level}
    bundle["timeline"] = timeline
    bundle["decisions"] = [
        {
            "at": e["at"],
            "table": e["name"],
            "rule": e["detail"].get("rule"),
            "inputs": e["detail"].get("inputs", {}),
            "outputs": e["detail"].get("outputs", {}),
        }
        for e in timeline
        if e["kind"] == "decision"
    ]
    bundle["transitions"] = [
        {"at": e["at"], "from": e["detail"].get("from"), "to": e["detail"].get("to"), "via": e["detail"].get("via")}
        for e in timeline
        if e["kind"] == "transition"
    ]
    bundle["sla"] = _clocks(timeline)
    return _times_in(bundle, zone.zone)
