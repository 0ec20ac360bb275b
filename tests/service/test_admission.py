"""The admission function (pure): no call without a valid grant is admitted; the grants a worker
checks against follow the grants file within one look (a new principal works, a revoked one stops)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.language.model import ROLES
from service.identity import Grants, GrantsWatcher, Principal, PublicKey, mint, new_private_key, opening, public_pem
from service.identity.admission import REPLAYED, CallerGate, admit
from service.identity.edit import Entry, put_principal

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
KEYS = [new_private_key() for _ in range(3)]
CASES = ["R-1", "R-2"]
EVENTS = ["merchant_approve", "refund_completed", opening("return"), opening("repair")]
DATAS: list[dict[str, object]] = [{}, {"amount": 3}, {"amount": 4}]


def _grants(roles: frozenset[str], open_types: frozenset[str], disabled: bool) -> Grants:
    p = Principal("p", roles, open_types, (PublicKey.from_pem(public_pem(KEYS[0])),), disabled=disabled)
    return Grants({"p": p})


@settings(max_examples=300, deadline=None)
@given(
    roles=st.frozensets(st.sampled_from(sorted(ROLES))),
    open_types=st.frozensets(st.sampled_from(["return", "repair"])),
    disabled=st.booleans(),
    signer=st.sampled_from(["p", "q"]),
    key=st.integers(0, 2),
    token_case=st.sampled_from(CASES),
    token_event=st.sampled_from(EVENTS),
    token_role=st.sampled_from(sorted(ROLES)),
    token_data=st.sampled_from(DATAS),
    issued_ago=st.integers(-600, 1200),
    case=st.sampled_from(CASES),
    event=st.sampled_from(EVENTS),
    role=st.sampled_from(sorted(ROLES)),
    data=st.sampled_from(DATAS),
    seen=st.booleans(),
    unsigned=st.booleans(),
)
def test_no_call_without_a_valid_grant_is_admitted(
    roles: frozenset[str],
    open_types: frozenset[str],
    disabled: bool,
    signer: str,
    key: int,
    token_case: str,
    token_event: str,
    token_role: str,
    token_data: dict[str, object],
    issued_ago: int,
    case: str,
    event: str,
    role: str,
    data: dict[str, object],
    seen: bool,
    unsigned: bool,
) -> None:
    grants = _grants(roles, open_types, disabled)
    issued = NOW - dt.timedelta(seconds=issued_ago)
    token = None
    if not unsigned:
        token = mint(
            signer,
            KEYS[key],
            case_id=token_case,
            event=token_event,
            data=token_data,
            role=token_role,
            now=issued,
            jti="j-1",
        )
    verdict = admit(
        token,
        grants,
        mode="signed",
        case_id=case,
        event=event,
        data=data,
        role=role,
        now=NOW,
        seen_jtis={"j-1"} if seen else set(),
    )
    valid = (
        not unsigned
        and signer == "p"
        and key == 0
        and not disabled
        and token_case == case
        and token_event == event
        and token_role == role
        and role in roles
        and token_data == data
        and -30 <= issued_ago < 120 + 30
        and (not event.startswith("open:") or event.removeprefix("open:") in open_types)
        and not seen
    )
    assert verdict.admitted == valid, verdict
    if not verdict.admitted:
        assert verdict.reason and verdict.code
    if seen and valid is False and verdict.code == REPLAYED:
        assert "used before" in verdict.reason


def test_open_mode_admits_unsigned_calls_only() -> None:
    grants = _grants(frozenset({"merchant"}), frozenset(), False)
    args = {"case_id": "R-1", "event": "merchant_approve", "data": {}, "role": "merchant", "now": NOW}
    assert admit(None, grants, mode="open", **args).admitted
    assert not admit(None, grants, mode="signed", **args).admitted
    bad = mint("p", KEYS[1], case_id="R-1", event="merchant_approve", data={}, role="merchant", now=NOW)
    assert not admit(bad, grants, mode="open", **args).admitted  # a token that is there must verify


def test_the_gate_follows_the_grants_file(tmp_path: Path) -> None:
    path = tmp_path / "grants.yaml"
    path.write_text("principals:\n", encoding="utf-8")
    watcher = GrantsWatcher(path)
    gate = CallerGate("signed", watcher.current)
    args = {"case_id": "R-1", "event": "merchant_approve", "data": {}, "role": "merchant", "now": NOW}
    token = mint("portal", KEYS[2], case_id="R-1", event="merchant_approve", data={}, role="merchant", now=NOW)
    assert gate.admit(token, **args).code == "unknown_principal"
    entry = Entry(roles=["merchant"], keys=[public_pem(KEYS[2])])
    path.write_text(put_principal(path.read_text(), "portal", entry), encoding="utf-8")
    watcher.check()  # what the worker does every GRANTS_CHECK_SECONDS
    assert gate.admit(token, **args).admitted
    path.write_text(
        put_principal(path.read_text(), "portal", Entry(roles=["merchant"], keys=[public_pem(KEYS[2])], disabled=True)),
        encoding="utf-8",
    )
    watcher.check()
    assert gate.admit(token, **args).code == "principal_disabled"
