"""Search attributes of a case, so `temporal workflow list --query` and `aftersales case list` filter
on them.

A case that writes an attribute its namespace does not know fails every workflow task
(BadSearchAttributes), so they must exist before the first case: `aftersales dev` registers them
when it starts the dev server (`registration_args`), and the worker checks them at start on any
server, registering the missing ones where it may (`service.ensure_search_attributes`).
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from policy_engine.engine import CaseState

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


# The type names the Temporal CLI and tcld accept (`--type Keyword`, `Name=Keyword`).
TYPE_NAMES: dict[int, str] = {
    IndexedValueType.INDEXED_VALUE_TYPE_TEXT: "Text",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: "Double",
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
}


def type_name(indexed_value_type: int) -> str:
    return TYPE_NAMES.get(indexed_value_type, f"type {indexed_value_type}")


def expected_types() -> dict[str, IndexedValueType.ValueType]:
    """Every attribute a case writes, by name, with the type it must be registered with."""
    return {key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL_KEYS}


def registration_args() -> list[str]:
    """`temporal server start-dev` flags that register our attributes."""
    args: list[str] = []
    for name, kind in expected_types().items():
        args += ["--search-attribute", f"{name}={type_name(kind)}"]
    return args
