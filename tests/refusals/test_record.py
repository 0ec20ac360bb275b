"""What a refused update's record keeps: names, the claimed principal, the reason, the data's digest."""

from __future__ import annotations

import datetime as dt
import hashlib

from service.identity.tokens import canonical_json, opening
from service.refusals import refusal_of
from tests.principal import token
from workflows.contract import EventRequest, OpenRequest

AT = dt.datetime(2026, 11, 5, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
PHONE = "13800138000"


def _refused(request: object, reason: str = "caller refused: reason") -> dict[str, object]:
    return refusal_of(
        workflow_id="case-R-1001", update_id="u-1", update_name="submit_event", args=[request], reason=reason, at=AT
    ).row()


def test_an_event_keeps_its_names_and_the_digest_of_its_data_never_the_data() -> None:
    data = {"tracking": "SF1", "phone": PHONE}
    request = EventRequest(
        name="return_shipped", role="customer", data=data, token=token("R-1001", "return_shipped", "customer", data)
    )

    row = _refused(request)

    assert row == {
        "case_id": "R-1001",
        "update_id": "u-1",
        "at": dt.datetime(2026, 11, 5, 1, 0, tzinfo=dt.UTC),
        "update_name": "submit_event",
        "event": "return_shipped",
        "role": "customer",
        "claimed_principal": "tests",
        "reason": "caller refused: reason",
        "data_sha256": hashlib.sha256(canonical_json(data)).hexdigest(),
        "data_size": len(canonical_json(data)),
    }
    assert PHONE not in repr(row)


def test_an_open_names_its_opening_event_and_the_role_its_token_claims() -> None:
    request = OpenRequest(
        case_id="R-1001", case_type="return", data={}, token=token("R-1001", opening("return"), "customer", {})
    )

    row = _refused(request)

    assert (row["event"], row["role"], row["claimed_principal"]) == ("open:return", "customer", "tests")
    assert row["data_size"] == 2  # `{}`


def test_what_a_caller_wrote_is_kept_only_when_it_is_a_name() -> None:
    forged = "x." + "eyJpc3MiOiAiPHNjcmlwdD4ifQ" + ".sig"  # claims {"iss": "<script>"}
    request = EventRequest(name=f"call {PHONE}", role="cust omer", data={"n": float("nan")}, token=forged)

    row = _refused(request, reason="r" * 5000)

    assert (row["event"], row["role"], row["claimed_principal"]) == (None, None, None)
    assert (row["data_sha256"], row["data_size"]) == (None, None)  # data JSON cannot hold: no digest
    assert len(str(row["reason"])) == 1000
    assert PHONE not in repr(row)
