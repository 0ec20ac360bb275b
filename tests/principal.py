"""The test principal: a key made in a temp folder per session, granted every role and case type.

Workers in the tests check callers as in production (AFTERSALES_CALLERS=signed) against `GATE`;
clients sign with `signed_client`, raw requests with `sign_open` / `sign_event`.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from policy_engine.language.model import ROLES
from service.codec import encrypting_converter
from service.codec_keys import add_key, load_key_ring
from service.identity import Grants, Principal, PublicKey, mint, new_private_key, opening, public_pem, write_private_key
from service.identity.admission import CallerGate
from starter import CaseClient
from workflows.contract import EventRequest, OpenRequest

NAME = "tests"
CASE_TYPES = frozenset(
    {"return", "refund_only", "exchange", "repair", "complaint", "ticket", "gift", "merchant_review"}
)
KEY = new_private_key()
KEY_FILE = Path(tempfile.mkdtemp(prefix="aftersales-test-key-")) / f"{NAME}.pem"
write_private_key(KEY_FILE, KEY)
PRINCIPAL = Principal(NAME, frozenset(ROLES), CASE_TYPES, (PublicKey.from_pem(public_pem(KEY)),))
# A principal that may act as a customer only and opens nothing (for the attack tests).
CUSTOMER_NAME = "tests-customer"
CUSTOMER_KEY = new_private_key()
CUSTOMER = Principal(
    CUSTOMER_NAME, frozenset({"customer"}), frozenset(), (PublicKey.from_pem(public_pem(CUSTOMER_KEY)),)
)
GRANTS = Grants({NAME: PRINCIPAL, CUSTOMER_NAME: CUSTOMER}, "tests", "tests")
GATE = CallerGate("signed", lambda: GRANTS)
# The session's payload encryption key, as a worker run as its own process reads it (AFTERSALES_CODEC_KEYS),
# and the converter the tests' own clients encrypt and decrypt with.
CODEC_KEYS = KEY_FILE.parent / "codec-keys.json"
add_key(CODEC_KEYS, dt.datetime.now(dt.UTC))
DATA_CONVERTER = encrypting_converter(load_key_ring(CODEC_KEYS))


def signed_client(client: Any, task_queue: str, **kwargs: Any) -> CaseClient:
    return CaseClient(client, task_queue, principal=NAME, private_key=KEY, **kwargs)


def token(case_id: str, event: str, role: str, data: Any, now: dt.datetime | None = None) -> str:
    return mint(
        NAME,
        KEY,
        case_id=case_id,
        event=event,
        data=to_jsonable_python(data or {}),
        role=role,
        now=now or dt.datetime.now(dt.UTC),
    )


def sign_open(req: OpenRequest, role: str = "customer", now: dt.datetime | None = None) -> OpenRequest:
    return req.model_copy(update={"token": token(req.case_id, opening(req.case_type), role, req.data, now)})


def sign_event(case_id: str, req: EventRequest, now: dt.datetime | None = None) -> EventRequest:
    return req.model_copy(update={"token": token(case_id, req.name, req.role, req.data, now)})


def write_grants(
    path: Path, case_types: tuple[str, ...] = ("complaint", "exchange", "refund_only", "repair", "return")
) -> Path:
    """A grants file granting the test principal (for a worker run as its own process)."""
    pem = "\n".join("        " + line for line in public_pem(KEY).strip().splitlines())
    path.write_text(
        f"principals:\n  {NAME}:\n    roles: [{', '.join(sorted(ROLES))}]\n"
        f"    open_types: [{', '.join(case_types)}]\n    keys:\n      - |\n{pem}\n",
        encoding="utf-8",
    )
    return path


def process_env(folder: Path) -> dict[str, str]:
    """What a worker or command run as its own process needs to check and sign as the test principal,
    to encrypt payloads with the session's codec key (`DATA_CONVERTER`), and a ledger in `folder`."""
    return {
        "AFTERSALES_GRANTS": str(write_grants(folder / "grants.yaml")),
        "AFTERSALES_AS": NAME,
        "AFTERSALES_KEY_FILE": str(KEY_FILE),
        "AFTERSALES_CODEC_KEYS": str(CODEC_KEYS),
        # A ledger (and outbox) of the test's own: the product's default is a file in the project
        # folder, which tests must leave alone (and whose leftovers would change what others read).
        "AFTERSALES_DATABASE_URL": f"sqlite:///{folder / 'ledger.sqlite3'}",
    }
