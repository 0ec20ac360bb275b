"""JSON Schemas of the policy and calendar files, for editors (completion and checks as you type).

Generated from the same models the loader validates with, then widened where the language accepts a
short form (a bare state name for a handler, a type name for a field).
"""

from __future__ import annotations

from typing import Any

from policy_engine.language.calendars import Calendar
from policy_engine.language.model import Policy

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _widen(defs: dict[str, Any]) -> None:
    if "Handler" in defs:
        defs["Handler"] = {"anyOf": [{"type": "string", "description": "a state name: go there"}, defs["Handler"]]}
    if "FieldSpec" in defs:
        types = defs["FieldSpec"]["properties"]["type"].get("enum")
        short = {"type": "string", "description": "a type name"}
        if types:
            short["enum"] = types
        defs["FieldSpec"] = {"anyOf": [short, defs["FieldSpec"]]}
    for model in ("Handler", "SlaClock"):
        node = defs.get(model)
        if not node:
            continue
        props = node["anyOf"][1]["properties"] if "anyOf" in node else node.get("properties", {})
        for key in ("count", "decide", "start"):
            if key in props:
                props[key] = {"anyOf": [{"type": "string"}, props[key]]}
        if "warn_at" in props:
            props["warn_at"] = {"anyOf": [{"type": "string", "pattern": r"^\d+(\.\d+)?%$"}, props["warn_at"]]}
    if "State" in defs:
        defs["State"] = {"anyOf": [{"type": "null"}, defs["State"]]}
    if "Counter" in defs:
        defs["Counter"] = {"anyOf": [{"type": "null"}, defs["Counter"]]}


def policy_file_schema() -> dict[str, Any]:
    policy = Policy.model_json_schema(by_alias=True, mode="validation")
    defs = policy.pop("$defs", {})
    _widen(defs)
    defs["Policy"] = policy
    return {
        "$schema": _DIALECT,
        "$id": "https://aftersales.dev/schema/policy.schema.json",
        "title": "aftersales policy file",
        "type": "object",
        "additionalProperties": False,
        "required": ["policies"],
        "properties": {"policies": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Policy"}}},
        "$defs": defs,
    }


def calendar_file_schema() -> dict[str, Any]:
    schema = Calendar.model_json_schema(mode="validation")
    schema["$schema"] = _DIALECT
    schema["$id"] = "https://aftersales.dev/schema/calendar.schema.json"
    schema["title"] = "aftersales calendar file"
    return schema
