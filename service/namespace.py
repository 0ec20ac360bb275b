"""The namespace a worker serves: the search attributes every case writes must exist there.

Without them every case fails its first workflow task (BadSearchAttributes) and never opens. The
worker checks at start, registers missing ones where it may (a dev server, a self-hosted cluster),
and otherwise refuses to start with the commands an administrator runs once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping
from typing import Protocol

import structlog
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    AddSearchAttributesResponse,
    ListSearchAttributesRequest,
    ListSearchAttributesResponse,
)
from temporalio.service import RPCError, RPCStatusCode

from service.settings import Settings
from workflows.search_attributes import expected_types, type_name

log = structlog.get_logger("aftersales.worker")

# How long the worker waits, after registering search attributes, for the server to list them.
REGISTRATION_PATIENCE = 15.0
OPERATOR_TIMEOUT = dt.timedelta(seconds=10)
# Answers meaning "this connection may not administer the namespace" (Temporal Cloud, a locked-down
# cluster), as opposed to "something is wrong".
NOT_ALLOWED = {RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.UNIMPLEMENTED}
LOCAL_ADDRESSES = {"localhost:7233", "127.0.0.1:7233"}


class StartRefused(Exception):
    """The worker cannot serve cases as configured; the message says what to do (several lines)."""


# --- search attributes ----------------------------------------------------------------------------


class SearchAttributeAdmin(Protocol):
    """The part of Temporal's operator service the check uses (`client.operator_service`; a fake in tests)."""

    async def list_search_attributes(
        self,
        req: ListSearchAttributesRequest,
        retry: bool = ...,
        metadata: Mapping[str, str | bytes] = ...,
        timeout: dt.timedelta | None = ...,
    ) -> ListSearchAttributesResponse: ...

    async def add_search_attributes(
        self,
        req: AddSearchAttributesRequest,
        retry: bool = ...,
        metadata: Mapping[str, str | bytes] = ...,
        timeout: dt.timedelta | None = ...,
    ) -> AddSearchAttributesResponse: ...


async def ensure_search_attributes(
    admin: SearchAttributeAdmin, settings: Settings, *, patience: float = REGISTRATION_PATIENCE, poll: float = 0.2
) -> list[str]:
    """Make sure the namespace knows every attribute a case writes, with its type; the names registered.

    Without them every case fails its first workflow task (BadSearchAttributes) and never opens.
    Missing ones are registered where this connection may (a dev server, a self-hosted cluster);
    otherwise, or when one has another type, raises StartRefused with the commands to run.
    """
    expected = expected_types()
    registered = await _registered(admin, settings)
    if registered is None:
        return []
    missing, wrong = _compare(expected, registered)
    if wrong:
        raise StartRefused(_wrong_type_message(wrong, settings))
    if not missing:
        return []
    try:
        await admin.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=settings.namespace, search_attributes={n: expected[n] for n in missing}
            ),
            retry=True,
            timeout=OPERATOR_TIMEOUT,
        )
    except RPCError as exc:
        raise StartRefused(_missing_message(missing, settings, _why(exc))) from None
    # The server may answer before the attributes are usable: wait until it lists them all.
    deadline = time.monotonic() + patience
    while True:
        registered = await _registered(admin, settings) or {}
        still_missing, wrong = _compare(expected, registered)
        if wrong:  # someone registered one with another type meanwhile (the server keeps the first)
            raise StartRefused(_wrong_type_message(wrong, settings))
        if not still_missing:
            return missing
        if time.monotonic() > deadline:
            why = f"they were accepted but are still not listed after {patience:.0f} s"
            raise StartRefused(_missing_message(still_missing, settings, why))
        await asyncio.sleep(poll)


async def _registered(admin: SearchAttributeAdmin, settings: Settings) -> dict[str, int] | None:
    """The namespace's custom attributes; None (with a warning) when this connection may not read them."""
    try:
        answer = await admin.list_search_attributes(
            ListSearchAttributesRequest(namespace=settings.namespace), retry=True, timeout=OPERATOR_TIMEOUT
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise StartRefused(
                f"the namespace '{settings.namespace}' does not exist at {settings.address}.\n"
                f"Create it ({_cli('operator namespace create', settings)} --namespace {settings.namespace}),"
                " or set TEMPORAL_NAMESPACE to an existing one."
            ) from None
        if exc.status in NOT_ALLOWED:
            # Workers often run with credentials that may run workflows but not read the namespace's
            # settings: go on, and say how to check if cases then fail.
            names = ", ".join(expected_types())
            log.warning(
                "cannot check the search attributes; cases fail (BadSearchAttributes) unless they exist",
                namespace=settings.namespace,
                reason=_why(exc),
                needed=names,
                check=f"{_cli('operator search-attribute list', settings)} --namespace {settings.namespace}",
            )
            return None
        raise StartRefused(
            f"cannot read the search attributes of namespace '{settings.namespace}' at {settings.address}: "
            f"{exc.message or exc.status.name}"
        ) from None
    return {name: int(kind) for name, kind in answer.custom_attributes.items()}


def _compare(expected: Mapping[str, int], registered: Mapping[str, int]) -> tuple[list[str], dict[str, int]]:
    missing = [name for name in expected if name not in registered]
    wrong = {name: registered[name] for name in expected if name in registered and registered[name] != expected[name]}
    return missing, wrong


def _why(exc: RPCError) -> str:
    if exc.status == RPCStatusCode.PERMISSION_DENIED:
        return f"permission denied: {exc.message}" if exc.message else "permission denied"
    if exc.status == RPCStatusCode.UNAUTHENTICATED:
        return "not authenticated"
    if exc.status == RPCStatusCode.UNIMPLEMENTED:
        return "this server does not offer the operator API to clients"
    return exc.message or exc.status.name


def _cli(command: str, settings: Settings) -> str:
    """`temporal <command>` pointed at the worker's server, as a user would type it."""
    text = f"temporal {command}"
    if settings.address not in LOCAL_ADDRESSES:
        text += f" --address {settings.address}"
    return text


def _tls_hint(settings: Settings) -> str:
    if not settings.tls:
        return ""
    return "\n(add the options you connect with: --api-key, or --tls-cert-path/--tls-key-path/--tls-ca-path)"


def _missing_message(missing: list[str], settings: Settings, why: str) -> str:
    expected = expected_types()
    ns = settings.namespace
    create = [
        f"  {_cli('operator search-attribute create', settings)} --namespace {ns} --name {name} --type {type_name(expected[name])}"
        for name in missing
    ]
    cloud = " ".join(f"--search-attribute {name}={type_name(expected[name])}" for name in missing)
    return (
        f"the namespace '{ns}' at {settings.address} lacks search attributes every case writes "
        f"({', '.join(missing)}), and this worker could not register them ({why}).\n"
        "Register them once (as an administrator of the namespace), then start the worker again:\n"
        + "\n".join(create)
        + _tls_hint(settings)
        + f"\nOn Temporal Cloud:\n  tcld namespace search-attributes add --namespace {ns} {cloud}"
    )


def _wrong_type_message(wrong: Mapping[str, int], settings: Settings) -> str:
    expected = expected_types()
    ns = settings.namespace
    lines = [
        f"  {name} is registered as {type_name(kind)}; cases write it as {type_name(expected[name])}"
        for name, kind in wrong.items()
    ]
    fix: list[str] = []
    for name in wrong:
        fix.append(f"  {_cli('operator search-attribute remove', settings)} --namespace {ns} --name {name} --yes")
        fix.append(
            f"  {_cli('operator search-attribute create', settings)} --namespace {ns} --name {name}"
            f" --type {type_name(expected[name])}"
        )
    return (
        f"the namespace '{ns}' at {settings.address} has search attributes of another type than cases write:\n"
        + "\n".join(lines)
        + "\nA search attribute's type cannot change. Either run the cases in another namespace"
        " (TEMPORAL_NAMESPACE), or, if nothing else uses these attributes, remove them and create them"
        " again (workflows that set them can no longer be found by them):\n"
        + "\n".join(fix)
        + _tls_hint(settings)
        + "\n(Temporal Cloud cannot remove a search attribute: use another namespace there.)"
    )
