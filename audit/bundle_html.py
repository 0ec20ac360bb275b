"""The audit bundle as ONE self-contained HTML page for a person who has never seen the product.

Inline CSS only: no script, no font, nothing fetched from the network. Every value is case data that
callers wrote (a customer's description may hold `<script>`), so every value goes through `escape`.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from audit.refusals import REFUSAL_CODES
from audit.zones import readable

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222;padding:0 1em}
header{border-bottom:3px solid #ccc;padding-bottom:.5em}
.verified{color:#0a6b2a;background:#e3f6e8;padding:.1em .5em;border-radius:4px}
.diverged{color:#8a1111;background:#fde4e4;padding:.1em .5em;border-radius:4px}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
td:last-child{overflow-wrap:anywhere;min-width:14em}
th{background:#f2f2f2}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f7f7f7;padding:1em;overflow:auto;white-space:pre-wrap}
dt{font-weight:bold;margin-top:.5em}
"""

GLOSSARY = [
    (
        "Case",
        "One after-sales request (a return, a refund, an exchange, a repair or a complaint) from opening to close.",
    ),
    (
        "Policy",
        "The rules a case follows: its deadlines, decisions, who may do what. Operators edit them; a case keeps the version it opened with.",
    ),
    (
        "Pinned policy, hash",
        "The exact policy text the case opened with, and its SHA-256 fingerprint: any change to the text gives another hash.",
    ),
    (
        "Input",
        "Something the case received: an event a person or system sent, an effect's result, or a deadline that passed.",
    ),
    (
        "Event",
        "A step someone sent (approve, ship, cancel...), with their role, their id and the principal that signed it.",
    ),
    (
        "Principal",
        "The backend system that signed the event with its key; role and actor id are what it said about the sender.",
    ),
    (
        "Refused attempt",
        "An event or opening the case refused before applying it (wrong role, bad signature, not allowed now): the case did not change. The principal is what the refused token claimed, unchecked.",
    ),
    (
        "Kind (of a refused attempt)",
        "; ".join(f"{code}: {meaning}" for code, meaning in REFUSAL_CODES.items()) + ".",
    ),
    ("Decision", "A row of a decision table chosen by the policy (its rule id), from the inputs shown."),
    ("Transition", "The case moved from one state to another, because of the event or deadline named under 'via'."),
    (
        "SLA clock",
        "A service-level deadline (for example 'acknowledge within 24 hours'): met, breached, paused or still running against its target time.",
    ),
    (
        "Effect",
        "Something the case did outside itself: a message, a refund, an assignment. Delivery says whether it was handed over.",
    ),
    (
        "Verified",
        "The recorded inputs were replayed through the pinned policy and gave exactly what the case recorded.",
    ),
    ("Diverged", "The replay and the record differ; the first place where they part is shown."),
]


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return escape(value)
    return escape(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _table(headers: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_text(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _who(entry: dict[str, Any]) -> str:
    if "event" not in entry:
        return "the platform" if entry["kind"] == "action" else "the clock"
    return f"{entry['role']} {entry['actor_id']} (signed by {entry['principal'] or 'nobody'})"


def _what(entry: dict[str, Any]) -> str:
    if "event" in entry:
        refused = f" — refused: {entry['refused']}" if "refused" in entry else ""
        return f"{entry['event']} {json.dumps(entry['data'], ensure_ascii=False)}{refused}"
    if "action" in entry:
        return f"result of {entry['action']}: {entry['result']}"
    return "deadlines due"


def _refused(attempts: list[dict[str, Any]] | None) -> str:
    if attempts is None:
        return "<p>Unknown: the ledger, where the worker logs refused attempts, could not be read here.</p>"
    return _table(
        ["when", "who (claimed)", "role", "what", "kind", "why", "update id", "data (SHA-256, bytes)"],
        [
            [
                readable(a["at"]),
                a["principal"],
                a["role"],
                a["event"] or a["update"],
                a["code"],
                a["reason"],
                a["update_id"],
                None if a["data_sha256"] is None else f"{a['data_sha256']}, {a['data_size']}",
            ]
            for a in attempts
        ],
        "No attempt was refused.",
    )


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


def render_html(bundle: dict[str, Any]) -> str:
    verification = bundle["verification"]
    verified = verification["verified"]
    status = bundle["status"] or {}
    policy = bundle["policy"] or {}
    verdict = (
        '<span class="verified">verified</span>: the record follows from its pinned policy and its inputs'
        if verified
        else '<span class="diverged">diverged</span>: the record does not follow from its pinned policy'
    )
    findings = "".join(f"<li>{escape(d['where'])}: {escape(d['message'])}</li>" for d in verification["divergences"])
    notes = "".join(f"<li>{escape(n)}</li>" for n in verification["notes"])
    header = (
        f"<header><h1>Audit of case {escape(bundle['case_id'])}</h1>"
        f"<p>A {escape(bundle['case_type'])} case (Temporal workflow <code>{escape(bundle['workflow_id'])}</code>), "
        f"opened {_text(readable(bundle['opened_at']))}, now <strong>{_text(status.get('state'))}</strong>"
        f"{' (closed)' if status.get('closed') else ''}.</p>"
        f'<p id="verification">Verification: {verdict}.</p>'
        f"{'<ul>' + findings + '</ul>' if findings else ''}{'<ul>' + notes + '</ul>' if notes else ''}"
        f"<p>Times are in {escape(bundle['time_zone'])} ({escape(bundle['time_zone_from'])}), each with its offset from UTC.</p>"
        f"<p>This page holds the case's personal data (names, phone numbers, addresses): keep it as such.</p></header>"
    )
    opening = bundle["opening"]
    sections = [
        _section(
            "opening",
            "Opening",
            f"<p>Opened by principal {_text(opening['principal'])} with this data:</p><pre>{_text(opening['data'])}</pre>",
        ),
        _section(
            "timeline",
            "Timeline: who did what, and when",
            _table(
                ["#", "when", "who", "what"],
                [[e["number"], readable(e["at"]), _who(e), _what(e)] for e in bundle["inputs"]],
                "The case received nothing after it opened.",
            ),
        ),
        _section("refused", "Refused attempts: who tried what, when, and why", _refused(bundle["refused_attempts"])),
        _section(
            "decisions",
            "Decisions",
            _table(
                ["when", "table", "rule", "inputs", "outputs"],
                [[readable(d["at"]), d["table"], d["rule"], d["inputs"], d["outputs"]] for d in bundle["decisions"]],
                "No decision table was consulted.",
            ),
        ),
        _section(
            "transitions",
            "Transitions",
            _table(
                ["when", "from", "to", "via"],
                [[readable(t["at"]), t["from"], t["to"], t["via"]] for t in bundle["transitions"]],
                "No transition.",
            ),
        ),
        _section(
            "sla",
            "SLA clocks against their targets",
            _table(
                ["clock", "started", "target (due)", "outcome", "since"],
                [
                    [c["name"], readable(c["started_at"]), readable(c["due"]), c["status"], readable(c["since"])]
                    for c in bundle["sla"]
                ],
                "The policy runs no SLA clock for this case.",
            ),
        ),
        _section(
            "effects",
            "Effects and their delivery",
            _table(
                ["key", "type", "params", "message", "delivery"],
                [[e["key"], e["type"], e["params"], e.get("message"), e["delivery"]] for e in bundle["effects"]],
                "The case had no effect.",
            ),
        ),
        _section(
            "policy",
            "Pinned policy",
            f"<p>{_text(policy.get('id'))}, hash <code>{_text(policy.get('version'))}</code></p>"
            f"<details><summary>The policy's content</summary><pre>{_text(json.dumps(policy.get('content'), ensure_ascii=False, indent=2))}</pre></details>",
        ),
        _section(
            "glossary",
            "Glossary",
            "<dl>"
            + "".join(f"<dt>{escape(term)}</dt><dd>{escape(meaning)}</dd>" for term, meaning in GLOSSARY)
            + "</dl>",
        ),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Audit of case {escape(bundle['case_id'])}</title><style>{STYLE}</style></head>"
        f"<body>{header}{''.join(sections)}</body></html>\n"
    )
