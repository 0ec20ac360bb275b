"""Principals, the grants file and signed event tokens (service.identity): every refusal, the grants
file's problems at their FILE:LINE:COL, the watcher's last good set, and edits that keep comments."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.language import PolicySet
from service.identity import (
    LEEWAY,
    MAX_TOKEN_BYTES,
    REFUSAL_CODES,
    CallerRefused,
    Grants,
    GrantsError,
    GrantsWatcher,
    KeyProblem,
    Principal,
    PublicKey,
    canonical_json,
    data_digest,
    fingerprint,
    load_grants,
    load_private_key,
    mint,
    new_private_key,
    opening,
    parse_grants,
    public_pem,
    verify,
    verify_token,
    write_private_key,
)
from service.identity.edit import Entry, disable_principal, put_principal
from tests.conftest import ROOT

CORPUS = ROOT / "tests" / "grants"
NOW = dt.datetime(2026, 11, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
KEY = new_private_key()
OTHER_KEY = new_private_key()  # another principal's
NEW_KEY = new_private_key()  # the merchant portal's key after a rotation

DATA: dict[str, Any] = {"reason": "quality_defect", "tracking": "SF1", "note": "包装破损", "amount": 299.0}
EVENT = {"case_id": "R-1001", "event": "return_shipped", "data": DATA, "role": "customer"}


def _principal(name: str, key: Ed25519PrivateKey, roles: set[str], **more: Any) -> Principal:
    return Principal(name, frozenset(roles), keys=(PublicKey.from_pem(public_pem(key)),), **more)


GRANTS = Grants(
    {
        "customer-app": _principal("customer-app", KEY, {"customer"}, open_types=frozenset({"return", "complaint"})),
        "merchant-portal": Principal(
            "merchant-portal",
            frozenset({"merchant"}),
            keys=(PublicKey.from_pem(public_pem(OTHER_KEY)), PublicKey.from_pem(public_pem(NEW_KEY))),
        ),
        "old-console": _principal("old-console", new_private_key(), {"agent"}, disabled=True),
        "partner": _principal("partner", new_private_key(), {"system"}, expires=NOW - dt.timedelta(days=1)),
    }
)


def token(**changes: Any) -> str:
    args: dict[str, Any] = {"principal": "customer-app", "private_key": KEY, "now": NOW, **EVENT}
    args.update(changes)
    return mint(**args)


def check(tok: str | None, **changes: Any) -> Principal:
    args: dict[str, Any] = {"now": NOW, **EVENT, **changes}
    return verify(tok, GRANTS, **args)


def refusal(tok: str | None, **changes: Any) -> CallerRefused:
    with pytest.raises(CallerRefused) as refused:
        check(tok, **changes)
    return refused.value


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"x" * 64) -> str:
    def part(value: Any) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.{part(signature)}"


def claims_of(tok: str) -> dict[str, Any]:
    return dict(jwt.decode(tok, options={"verify_signature": False}))


# --- tokens -----------------------------------------------------------------------------------------


def test_a_token_round_trips_to_its_principal() -> None:
    tok = token()
    assert check(tok).name == "customer-app"
    verified = verify_token(tok, GRANTS, now=NOW, **EVENT)
    claims = claims_of(tok)
    assert set(claims) == {"iss", "sub", "case", "evt", "dig", "role", "iat", "exp", "jti"}
    assert (claims["iss"], claims["sub"], claims["case"], claims["evt"], claims["role"]) == (
        "customer-app",
        "customer-app",
        "R-1001",
        "return_shipped",
        "customer",
    )
    assert claims["exp"] - claims["iat"] == 120 and claims["iat"] == int(NOW.timestamp())
    assert verified.jti == claims["jti"] and verified.expires_at - verified.issued_at == dt.timedelta(seconds=120)
    assert jwt.get_unverified_header(tok) == {"alg": "EdDSA", "typ": "JWT", "kid": fingerprint(KEY)}
    assert token() != tok  # a new jti each time


def test_an_opening_names_the_case_type() -> None:
    tok = token(event=opening("return"))
    assert check(tok, event="open:return").name == "customer-app"
    assert claims_of(tok)["evt"] == "open:return"


def test_verify_reads_no_clock() -> None:
    """A token made for a moment years away verifies at that moment: only `now` counts."""
    later = dt.datetime(2041, 5, 1, tzinfo=dt.UTC)
    assert check(token(now=later), now=later).name == "customer-app"


def test_the_clock_leeway() -> None:
    tok = token()
    assert check(tok, now=NOW + dt.timedelta(seconds=120) + LEEWAY - dt.timedelta(seconds=1))
    assert check(tok, now=NOW - LEEWAY)  # the caller's clock a little ahead
    assert refusal(tok, now=NOW + dt.timedelta(seconds=120) + LEEWAY).code == "expired"
    assert refusal(tok, now=NOW - LEEWAY - dt.timedelta(seconds=1)).code == "not_yet_valid"


def test_both_keys_of_a_rotation_are_accepted() -> None:
    old = mint("merchant-portal", OTHER_KEY, now=NOW, **{**EVENT, "role": "merchant"})
    new = mint("merchant-portal", NEW_KEY, now=NOW, **{**EVENT, "role": "merchant"})
    assert check(old, role="merchant").name == check(new, role="merchant").name == "merchant-portal"
    # Without a `kid` each of the principal's keys is tried.
    claims = claims_of(new)
    no_kid = jwt.encode(claims, NEW_KEY, algorithm="EdDSA")
    assert check(no_kid, role="merchant").name == "merchant-portal"


def _refusals() -> list[tuple[str, str, dict[str, Any]]]:
    """(expected code, a token, the verify arguments that differ from EVENT)."""
    good = token()
    claims = claims_of(good)
    header = {"alg": "EdDSA", "typ": "JWT", "kid": fingerprint(KEY)}
    head, _, sig = good.split(".")
    other_case = base64.urlsafe_b64encode(json.dumps(claims | {"case": "R-1002"}).encode()).rstrip(b"=").decode()
    hs256 = jwt.encode(claims, "a shared secret that anyone with the grants file could know", algorithm="HS256")
    long_lived = jwt.encode({**claims, "exp": claims["iat"] + 3600}, KEY, algorithm="EdDSA", headers=header)
    return [
        ("no_token", None, {}),
        ("no_token", "  ", {}),
        ("malformed", "not-a-token", {}),
        ("malformed", "a.b.c", {}),
        ("malformed", "x" * (MAX_TOKEN_BYTES + 1), {}),
        ("malformed", forge({"alg": "EdDSA"}, claims | {"iss": 7}), {}),
        ("malformed", jwt.encode(claims | {"case": None}, KEY, algorithm="EdDSA"), {}),
        ("malformed", jwt.encode(claims | {"sub": "other"}, KEY, algorithm="EdDSA"), {}),
        ("malformed", jwt.encode(claims | {"iat": True}, KEY, algorithm="EdDSA"), {}),
        ("malformed", jwt.encode(claims | {"exp": claims["iat"]}, KEY, algorithm="EdDSA"), {}),
        ("malformed", jwt.encode(claims | {"exp": 10**20}, KEY, algorithm="EdDSA"), {}),
        ("malformed", jwt.encode(claims | {"jti": ""}, KEY, algorithm="EdDSA"), {}),
        ("bad_algorithm", forge({"alg": "none"}, claims, b""), {}),  # `header.claims.`: unsigned
        ("bad_algorithm", forge({"alg": "None", "kid": fingerprint(KEY)}, claims, b""), {}),
        ("bad_algorithm", hs256, {}),
        ("unknown_principal", mint("someone", KEY, now=NOW, **EVENT), {}),
        ("principal_disabled", mint("old-console", KEY, now=NOW, **EVENT), {}),
        ("principal_expired", mint("partner", KEY, now=NOW, **EVENT), {}),
        # Signed by another key, claiming to be customer-app: with its own kid, and with customer-app's.
        ("bad_signature", mint("customer-app", OTHER_KEY, now=NOW, **EVENT), {}),
        ("bad_signature", jwt.encode(claims, OTHER_KEY, algorithm="EdDSA", headers=header), {}),
        ("bad_signature", f"{head}.{other_case}.{sig}", {"case_id": "R-1002"}),  # claims changed after signing
        ("bad_signature", forge(header, claims), {}),
        ("not_yet_valid", token(now=NOW + dt.timedelta(minutes=5)), {}),
        ("expired", good, {"now": NOW + dt.timedelta(minutes=10)}),
        ("too_long_lived", long_lived, {}),
        ("wrong_case", good, {"case_id": "R-1002"}),
        ("wrong_event", good, {"event": "customer_cancel"}),
        ("wrong_role", good, {"role": "merchant"}),
        ("role_not_granted", token(role="merchant"), {"role": "merchant"}),
        ("case_type_not_granted", token(event=opening("repair")), {"event": "open:repair"}),
        ("data_mismatch", good, {"data": {**DATA, "tracking": "SF2"}}),
        ("data_mismatch", good, {"data": {**DATA, "amount": float("nan")}}),
    ]


@pytest.mark.parametrize(("code", "tok", "changes"), _refusals())
def test_each_refusal(code: str, tok: str | None, changes: dict[str, Any]) -> None:
    refused = refusal(tok, **changes)
    assert refused.code == code, refused.reason
    assert str(refused) == refused.reason and refused.reason


def test_every_refusal_code_is_tested() -> None:
    assert {code for code, _, _ in _refusals()} == set(REFUSAL_CODES)


def test_a_refusal_never_repeats_the_callers_values() -> None:
    personal = {"phone": "13800138000", "address": "上海市浦东新区", "name": "张三"}
    secret_case = "R-13800138000"
    cases = [
        refusal(token(data=personal, case_id=secret_case), case_id=secret_case),  # data differ from {}... below
        refusal(token(case_id=secret_case)),
        refusal(token(event="mystery_13800138000"), event="return_shipped"),
        refusal(mint("张三-13800138000", KEY, now=NOW, **EVENT)),
        refusal(token(role="13800138000"), role="13800138000"),
        refusal(token(event=opening("x13800138000")), event=opening("x13800138000")),
        refusal(forge({"alg": "13800138000"}, {})),
    ]
    for refused in cases:
        for value in (*personal.values(), secret_case, "13800138000", "张三"):
            assert value not in refused.reason, refused.reason


def test_a_role_not_granted_is_said_with_what_is_granted() -> None:
    refused = refusal(token(role="merchant"), role="merchant")
    assert refused.reason == "principal 'customer-app' may not act as merchant (granted: customer)"
    refused = refusal(token(event=opening("repair")), event=opening("repair"))
    assert (
        refused.reason == "principal 'customer-app' may not open cases of this type (`evt`; granted: complaint, return)"
    )


def test_one_changed_byte_of_data_is_refused() -> None:
    tok = token()
    changed = json.loads(json.dumps(DATA).replace("SF1", "SF2"))
    assert refusal(tok, data=changed).code == "data_mismatch"
    assert check(tok, data=dict(reversed(list(DATA.items())))).name == "customer-app"  # key order is not data


def test_the_canonical_json_and_its_digest() -> None:
    assert canonical_json({"b": 1, "a": "é", "c": [1.5, None, True]}) == '{"a":"é","b":1,"c":[1.5,null,true]}'.encode()
    assert canonical_json(None) == b"{}"
    expected = base64.urlsafe_b64encode(__import__("hashlib").sha256(b'{"a":1}').digest()).rstrip(b"=").decode()
    assert data_digest({"a": 1}) == expected
    with pytest.raises(ValueError):
        canonical_json({"x": float("inf")})


def test_mint_refuses_what_verify_would() -> None:
    with pytest.raises(ValueError, match="ttl"):
        token(ttl=dt.timedelta(hours=1))
    with pytest.raises(ValueError, match="ttl"):
        token(ttl=0)
    with pytest.raises(ValueError, match="offset"):
        token(now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="offset"):
        check(token(), now=NOW.replace(tzinfo=None))
    assert claims_of(token(ttl=30))["exp"] - claims_of(token(ttl=30))["iat"] == 30


def test_mint_takes_the_pem_too() -> None:
    from service.identity.keys import private_pem

    assert check(token(private_key=private_pem(KEY))).name == "customer-app"
    assert check(token(private_key=private_pem(KEY).decode())).name == "customer-app"


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    case_id=_names,
    event=_names,
    data=st.dictionaries(st.text(max_size=6), _json, max_size=4),
    change=st.sampled_from(["case_id", "event", "data", "role", "now"]),
    other=_names,
    late=st.integers(min_value=0, max_value=10**6),
)
def test_any_change_to_what_was_signed_is_refused(
    case_id: str, event: str, data: dict[str, Any], change: str, other: str, late: int
) -> None:
    signed = {"case_id": case_id, "event": event, "data": data, "role": "customer"}
    tok = mint("customer-app", KEY, now=NOW, **signed)
    assert verify(tok, GRANTS, now=NOW, **signed).name == "customer-app"
    changed: dict[str, Any] = {**signed, "now": NOW}
    if change == "data":
        changed["data"] = {**data, "_": other} if data.get("_") != other else {**data, "_": other + "x"}
    elif change == "role":
        changed["role"] = "merchant"
    elif change == "now":
        changed["now"] = NOW + dt.timedelta(seconds=120) + LEEWAY + dt.timedelta(seconds=late)
    else:
        changed[change] = other if signed[change] != other else other + "x"
    with pytest.raises(CallerRefused):
        verify(tok, GRANTS, **changed)


# --- keys -------------------------------------------------------------------------------------------


def test_private_key_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "portal.pem"
    write_private_key(path, KEY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert fingerprint(load_private_key(path)) == fingerprint(KEY)
    with pytest.raises(FileExistsError):
        write_private_key(path, OTHER_KEY)  # never overwritten
    os.chmod(path, 0o644)
    with pytest.raises(KeyProblem, match=r"others may read this private key \(mode 0644\); run `chmod 600"):
        load_private_key(path)
    with pytest.raises(KeyProblem, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")
    (tmp_path / "pub.pem").write_text(public_pem(KEY))
    os.chmod(tmp_path / "pub.pem", 0o600)
    with pytest.raises(KeyProblem, match="not a PEM private key"):
        load_private_key(tmp_path / "pub.pem")


# --- the grants file --------------------------------------------------------------------------------


def _expected(path: Path) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^# expect: (.*)$", path.read_text(encoding="utf-8"), re.M)]


@pytest.mark.parametrize("path", sorted(CORPUS.glob("[0-9]*.yaml")), ids=lambda p: p.stem)
def test_grants_problems_at_their_place(path: Path, policy_set: PolicySet) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} says no `# expect:` problem"
    with pytest.raises(GrantsError) as exc:
        load_grants(path, case_types=policy_set.case_types)
    assert [f"{p.line}:{p.col}: {p.message}" for p in exc.value.problems] == expected
    assert all(str(p).startswith(f"{path}:") for p in exc.value.problems)
    assert "Traceback" not in str(exc.value) and "cryptography" not in str(exc.value)


def test_a_valid_grants_file(policy_set: PolicySet) -> None:
    grants = load_grants(CORPUS / "valid.yaml", case_types=policy_set.case_types)
    assert sorted(grants.principals) == ["customer-app", "merchant-portal", "old-console"]
    app, portal, console = grants.get("customer-app"), grants.get("merchant-portal"), grants.get("old-console")
    assert app is not None and portal is not None and console is not None
    assert app.roles == {"customer"} and "refund_only" in app.open_types and app.note.startswith("the customer app")
    assert portal.keys[0].pem == (CORPUS / "keys" / "merchant-portal.pub.pem").read_text()  # a key from a file
    assert portal.expires == dt.datetime(2030, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert portal.status(NOW) == "active" and portal.status(portal.expires) == "expired"
    assert console.disabled and console.keys == () and console.status(NOW) == "disabled"
    assert grants.get("nobody") is None  # deny by default
    assert re.fullmatch(r"[0-9a-f]{64}", grants.digest)
    again = Grants.from_json(json.loads(json.dumps(grants.to_json())))
    assert again == grants


def test_without_policies_case_types_are_checked_for_spelling_only(tmp_path: Path) -> None:
    text = f"principals:\n  app:\n    roles: [customer]\n    open_types: [retrun, Bad-Type]\n    keys:\n      - {json.dumps(public_pem(KEY))}\n"
    with pytest.raises(GrantsError) as exc:
        parse_grants(text.encode(), "g.yaml", base_dir=tmp_path)
    assert [str(p) for p in exc.value.problems] == [
        "g.yaml:4:26: 'Bad-Type' is not a case type name (lower-case letters, digits and '_')"
    ]


def test_a_private_key_in_the_grants_file_is_refused(tmp_path: Path) -> None:
    from service.identity.keys import private_pem

    pem = private_pem(new_private_key()).decode()
    text = "principals:\n  app:\n    roles: [customer]\n    keys:\n      - |\n" + "".join(
        f"        {line}\n" for line in pem.splitlines()
    )
    with pytest.raises(GrantsError) as exc:
        parse_grants(text.encode(), "g.yaml", base_dir=tmp_path)
    [problem] = exc.value.problems
    assert (problem.line, problem.col) == (5, 9)
    assert problem.message.startswith("this is a private key: the grants file holds public keys only")


def test_other_grants_file_mistakes(tmp_path: Path) -> None:
    def problems(text: str) -> list[str]:
        with pytest.raises(GrantsError) as exc:
            parse_grants(text.encode(), "g.yaml", base_dir=tmp_path)
        return [str(p) for p in exc.value.problems]

    pem = json.dumps(public_pem(KEY))
    assert problems("- a\n") == ["g.yaml:1:1: a grants file is a mapping: `principals:` and one entry per principal"]
    assert problems("principals: [a]\n") == ["g.yaml:1:13: `principals` maps each principal's name to its grants"]
    assert problems("principals:\n  app: yes\n") == [
        "g.yaml:2:8: principal 'app' needs its grants: roles, keys and optionally open_types"
    ]
    assert problems(f"principals:\n  app:\n    roles: customer\n    keys: [{pem}]\n") == [
        "g.yaml:3:12: `roles` is a list, e.g. roles: [merchant]"
    ]
    assert problems(f"principals:\n  app:\n    roles: [customer, customer]\n    keys: [{pem}]\n") == [
        "g.yaml:3:23: role 'customer' is listed twice"
    ]
    assert problems(f"principals:\n  app:\n    roles: [customer]\n    keys: [{pem}, {pem}]\n    note: 3\n") == [
        f"g.yaml:4:{14 + len(pem)}: this key ({fingerprint(KEY)}) is listed twice",
        "g.yaml:5:11: `note` is text",
    ]
    assert problems("principals:\n  app:\n    roles: [customer]\n    keys: a-key.pem\n") == [
        "g.yaml:4:11: `keys` is a list of public keys: inline PEM blocks (`- |`) or file paths"
    ]
    assert problems("principals:\n  app:\n    roles: [customer]\n    keys: [3]\n") == [
        "g.yaml:4:12: a key is an inline PEM block (`- |` then the PEM lines) or the path of a .pem file"
    ]
    assert problems("principals: !!python/object {}\n")[0].startswith("g.yaml:1:13: YAML tag")
    assert problems("\xff".encode("latin-1").decode("latin-1")) != []


def test_an_empty_grants_file_grants_nothing(tmp_path: Path) -> None:
    for text in ("", "# nobody yet\n", "principals:\n"):
        assert len(parse_grants(text.encode(), "g.yaml", base_dir=tmp_path)) == 0
    with pytest.raises(GrantsError, match="no grants file: every caller is refused"):
        load_grants(tmp_path / "grants.yaml")
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(GrantsError, match="not UTF-8"):
        load_grants(tmp_path / "bad.yaml")


# --- the watcher ------------------------------------------------------------------------------------


def _grants_text(*names: str, key: Ed25519PrivateKey = KEY) -> str:
    out = "principals:\n"
    for i, name in enumerate(names):
        pem = public_pem(key if i == 0 else new_private_key())
        out += f"  {name}:\n    roles: [customer]\n    keys: [{json.dumps(pem)}]\n"
    return out


def test_the_watcher_keeps_the_last_good_grants(tmp_path: Path) -> None:
    path = tmp_path / "grants.yaml"
    watcher = GrantsWatcher(path)
    assert len(watcher.current()) == 0  # no file: deny everyone
    assert watcher.check().message.startswith("no grants file")

    path.write_text(_grants_text("app"))
    first = watcher.check()
    assert first.changed and first.message == "grants loaded" and watcher.current().get("app") is not None
    assert not watcher.check().changed  # nothing changed: one stat

    os.utime(path, ns=(1, 1))  # touched: read again, same bytes, nothing to do
    assert not watcher.check().changed

    path.write_text(_grants_text("app").replace("customer", "custmer"))
    broken = watcher.check()
    assert not broken.changed and broken.problems
    assert broken.message == "the grants file is invalid; still using the last good grants"
    assert "did you mean 'customer'" in broken.problems[0].message
    assert watcher.current().get("app") is not None  # the last good set

    path.write_text(_grants_text("app", "portal"))
    fixed = watcher.check()
    assert fixed.changed and fixed.message == "grants reloaded" and watcher.current().get("portal") is not None

    path.unlink()
    gone = watcher.check()
    assert gone.message == "the grants file is gone; still using the last good grants"
    assert watcher.current().get("portal") is not None


def test_a_strict_watcher_refuses_to_start_on_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "grants.yaml"
    path.write_text("principals:\n  app:\n    roles: [custmer]\n")
    with pytest.raises(GrantsError):
        GrantsWatcher(path, strict=True)
    lenient = GrantsWatcher(path, case_types=lambda: ["return"])
    assert len(lenient.current()) == 0
    assert lenient.check().problems == ()  # reported once, when it was read


# --- edits that keep the operator's comments --------------------------------------------------------

HAND_WRITTEN = """\
# Our callers. Ask #platform-security before adding one.
principals:
  # The app everyone uses.
  customer-app:
    roles: [customer]   # never merchant
    keys: [{pem}]

  # Agents' console.
  service-console:
    roles: [agent, supervisor]
    keys:
      - {pem2}
# end of principals
"""


def _hand_written() -> str:
    return HAND_WRITTEN.format(pem=json.dumps(public_pem(KEY)), pem2=json.dumps(public_pem(OTHER_KEY)))


def test_adding_a_principal_keeps_comments_and_order(tmp_path: Path) -> None:
    text = _hand_written()
    new = put_principal(text, "merchant-portal", Entry(["merchant"], ["return"], [public_pem(NEW_KEY)], note="portal"))
    assert new.startswith(text.removesuffix("# end of principals\n"))
    assert new.endswith("        -----END PUBLIC KEY-----\n# end of principals\n")
    grants = parse_grants(new.encode(), "g.yaml", base_dir=tmp_path)
    assert list(grants.principals) == ["customer-app", "service-console", "merchant-portal"]
    portal = grants.get("merchant-portal")
    assert portal is not None and portal.open_types == {"return"} and portal.note == "portal"


def test_replacing_a_principal_keeps_the_others_as_written(tmp_path: Path) -> None:
    text = _hand_written()
    new = put_principal(text, "customer-app", Entry(["customer"], [], [public_pem(KEY), public_pem(NEW_KEY)]))
    assert "# The app everyone uses.\n  customer-app:\n    roles: [customer]\n    keys:\n      - |\n" in new
    assert new.endswith(text[text.index("\n  # Agents' console.") :])  # the rest untouched
    app = parse_grants(new.encode(), "g.yaml", base_dir=tmp_path).get("customer-app")
    assert app is not None and len(app.keys) == 2


def test_revoking_writes_one_line(tmp_path: Path) -> None:
    text = _hand_written()
    new = disable_principal(text, "customer-app")
    assert new == text.replace("    keys: [", "    keys: [", 1).replace(
        f"    keys: [{json.dumps(public_pem(KEY))}]\n",
        f"    keys: [{json.dumps(public_pem(KEY))}]\n    disabled: true\n",
    )
    assert disable_principal(new, "customer-app") == new  # already there: set again, same text
    last = disable_principal(text, "service-console")
    assert last.endswith("      - " + json.dumps(public_pem(OTHER_KEY)) + "\n    disabled: true\n# end of principals\n")
    flow = "principals:\n  app: {roles: [customer], keys: [" + json.dumps(public_pem(KEY)) + "]}\n"
    app = parse_grants(disable_principal(flow, "app").encode(), "g.yaml", base_dir=tmp_path).get("app")
    assert app is not None and app.disabled
    with pytest.raises(ValueError, match="no principal 'nobody'"):
        disable_principal(text, "nobody")


def test_writing_the_first_principal(tmp_path: Path) -> None:
    entry = Entry(["customer"], [], [public_pem(KEY)])
    for text in ("", "principals:\n", "principals: {}\n# after\n", "# just a comment\n"):
        new = put_principal(text, "app", entry)
        assert parse_grants(new.encode(), "g.yaml", base_dir=tmp_path).get("app") is not None, new
    assert put_principal("", "app", entry).startswith("# Who may call the aftersales service")


def test_the_documented_example_is_a_valid_grants_file(policy_set: PolicySet) -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert example is not None
    grants = parse_grants(example.group(1).encode(), "docs", base_dir=CORPUS, case_types=policy_set.case_types)
    assert sorted(grants.principals) == ["customer-app", "logistics-callback", "merchant-portal", "old-console"]


def test_an_unreadable_grants_file_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "grants.yaml"
    path.mkdir()  # reading a folder fails like a file without permission, even as root
    watcher = GrantsWatcher(path)
    again = watcher.check()
    assert again.problems and again.problems[0].message.startswith("cannot read file") and again.message == ""
    path.rmdir()
    path.write_text(_grants_text("app"))
    assert watcher.check().changed and watcher.current().get("app") is not None
