"""Search attributes of a case, so `temporal workflow list --query` and `aftersales case list` filter
on them. The dev server registers these names at start (see activities/devserver.py)."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from policy_engine.case import CaseState

CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")
CASE_STATE = SearchAttributeKey.for_keyword("CaseState")
MERCHANT_ID = SearchAttributeKey.for_keyword("MerchantId")
PRIORITY = SearchAttributeKey.for_keyword("Priority")
POLICY_VERSION = SearchAttributeKey.for_keyword("PolicyVersion")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
CASE_CLOSED = SearchAttributeKey.for_bool("CaseClosed")

ALL_KEYS: tuple[SearchAttributeKey[Any], ...] = (
    CASE_TYPE,
    CASE_STATE,
    MERCHANT_ID,
    PRIORITY,
    POLICY_VERSION,
    SLA_BREACHED,
    ESCALATION_LEVEL,
    CASE_CLOSED,
)
_BY_NAME = {key.name: key for key in ALL_KEYS}


def search_attribute_updates(state: CaseState, listed: dict[str, str | None]) -> dict[str, Any]:
    """The attribute values a case should show now (None: leave unset)."""
    return {
        "CaseType": state.case_type,
        "CaseState": state.state,
        "MerchantId": listed.get("merchant"),
        "Priority": listed.get("priority"),
        "PolicyVersion": state.policy_version[:12],
        "SlaBreached": any(c.status == "breached" for c in state.sla.values()),
        "EscalationLevel": state.escalation_level,
        "CaseClosed": state.closed,
    }


def to_updates(values: dict[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    updates: list[SearchAttributeUpdate[Any]] = []
    for name, value in values.items():
        key = _BY_NAME[name]
        updates.append(key.value_unset() if value is None else key.value_set(value))
    return updates


def registration_args() -> list[str]:
    """`temporal server start-dev` flags that register our attributes."""
    kinds = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
        IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    }
    args: list[str] = []
    for key in ALL_KEYS:
        args += ["--search-attribute", f"{key.name}={kinds[IndexedValueType.ValueType(key.indexed_value_type)]}"]
    return args
