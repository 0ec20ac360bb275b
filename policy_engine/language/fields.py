"""Field declarations: the shape of case data, event data and variables.

One small language serves three uses: checking data a backend sends, telling the expression checker
which names exist, and publishing JSON Schemas for backend systems.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

FieldType = Literal["string", "number", "integer", "boolean", "datetime", "date", "object", "list", "any"]
_TYPE_NAMES: tuple[str, ...] = FieldType.__args__  # type: ignore[attr-defined]


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: FieldType = "string"
    required: bool = True
    default: Any = None
    enum: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    description: str = ""
    fields: dict[str, FieldSpec] | None = None
    items: FieldSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        # `tracking: string` is short for `tracking: {type: string}`.
        if isinstance(value, str):
            if value not in _TYPE_NAMES:
                raise ValueError(f"unknown field type '{value}'; use one of {', '.join(_TYPE_NAMES)}")
            return {"type": value}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.fields is not None and self.type != "object":
            raise ValueError("`fields` is only for type: object")
        if self.items is not None and self.type != "list":
            raise ValueError("`items` is only for type: list")
        if self.type == "object" and self.fields is None:
            raise ValueError("type: object needs `fields`")
        if (self.min is not None or self.max is not None) and self.type not in ("number", "integer"):
            raise ValueError("`min` and `max` are only for numbers")
        if self.default is not None:
            errors = check_value(self, self.default, "default")
            if errors:
                raise ValueError(f"the default does not fit the field: {errors[0][1]}")
        return self

    @property
    def optional(self) -> bool:
        return not self.required or self.default is not None


FieldMap = dict[str, FieldSpec]

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "list": (list, tuple),
    "object": (dict,),
}


def _coerce_time(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    if spec.type == "datetime":
        if isinstance(value, dt.datetime):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                return value, "is not an ISO 8601 date-time"
        else:
            return value, "should be an ISO 8601 date-time with offset"
        if parsed.tzinfo is None:
            return value, "a date-time needs a UTC offset, such as +08:00"
        return parsed.isoformat(), None
    if isinstance(value, dt.datetime):
        return value, "should be a date, not a date-time"
    if isinstance(value, dt.date):
        return value.isoformat(), None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat(), None
        except ValueError:
            return value, "is not a date (YYYY-MM-DD)"
    return value, "should be a date (YYYY-MM-DD)"


_KINDS: tuple[tuple[type | types.UnionType, str], ...] = (
    (bool, "true/false"),  # before int: a bool is an int to Python, not to an operator
    (int | float, "a number"),
    (str, "text"),
    (list, "a list"),
    (dict, "a mapping"),
)


def value_kind(value: Any) -> str | None:
    """What a YAML or JSON value is, in the words messages use; None for nothing and anything else."""
    for kind, word in _KINDS:
        if isinstance(value, kind):
            return word
    return None


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return value_kind(value) or type(value).__name__


def _normalise(spec: FieldSpec, value: Any, path: str, errors: list[tuple[str, str]]) -> Any:
    """Check one value against its spec; return it in canonical JSON form (dates as text)."""
    if spec.type == "any":
        return value
    if spec.type in ("datetime", "date"):
        out, err = _coerce_time(spec, value)
        if err:
            errors.append((path, err))
        return out
    expected = _PY_TYPES[spec.type]
    bad_bool = isinstance(value, bool) and spec.type in ("number", "integer")
    if not isinstance(value, expected) or bad_bool:
        errors.append((path, f"should be {spec.type}, got {_type_name(value)}"))
        return value
    if spec.enum is not None and value not in spec.enum:
        choices = ", ".join(str(c) for c in spec.enum)
        errors.append((path, f"is not one of: {choices}"))
    number: Any = value  # checked against the declared type above
    if spec.min is not None and number < spec.min:
        errors.append((path, f"is below the minimum {spec.min:g}"))
    if spec.max is not None and number > spec.max:
        errors.append((path, f"is above the maximum {spec.max:g}"))
    if spec.type == "object" and spec.fields is not None:
        return _normalise_map(spec.fields, number, path, errors)
    if spec.type == "list" and spec.items is not None:
        return [_normalise(spec.items, v, f"{path}[{i}]", errors) for i, v in enumerate(number)]
    return value


def _normalise_map(fields: FieldMap, data: dict[str, Any], prefix: str, errors: list[tuple[str, str]]) -> Any:
    out: dict[str, Any] = {}
    for key in data:
        if key not in fields:
            errors.append((_join(prefix, _key_shown(key)), "is not a known field"))
    for name, spec in fields.items():
        path = _join(prefix, name)
        if name in data and data[name] is not None:
            out[name] = _normalise(spec, data[name], path, errors)
        elif spec.default is not None:
            out[name] = _normalise(spec, spec.default, path, errors)
        elif spec.required:
            errors.append((path, "is required"))
        else:
            out[name] = None
    return out


# Messages about data name fields, never a value a caller wrote: it goes to logs and histories, and
# could forge lines or hold anything. A key the policy does not declare is the caller's too: shown
# only when it is a plain name (a typo such as `reasn` helps whoever integrates), else as `?`.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _key_shown(key: object) -> str:
    return key if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) else "?"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def check_value(spec: FieldSpec, value: Any, path: str = "") -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    _normalise(spec, value, path, errors)
    return errors


def normalise_data(fields: FieldMap, data: Any) -> tuple[dict[str, Any], list[str]]:
    """Check data against declared fields, fill defaults and absent optionals (as None).

    Returns the canonical data (JSON-ready) and a list of readable errors ("order.amount: is required").
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, [f"the data should be a mapping, got {_type_name(data)}"]
    errors: list[tuple[str, str]] = []
    out = _normalise_map(fields, data, "", errors)
    return out, [f"{path}: {msg}" for path, msg in errors]


def json_schema(fields: FieldMap, title: str = "") -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for data declared by `fields`."""
    schema = _object_schema(fields)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    if title:
        schema["title"] = title
    return schema


def _object_schema(fields: FieldMap) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: _field_schema(spec) for name, spec in fields.items()},
        "required": [name for name, spec in fields.items() if spec.required and spec.default is None],
    }


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    out: dict[str, Any]
    if spec.type == "object" and spec.fields is not None:
        out = _object_schema(spec.fields)
    elif spec.type == "list":
        out = {"type": "array"}
        if spec.items is not None:
            out["items"] = _field_schema(spec.items)
    elif spec.type == "datetime":
        out = {"type": "string", "format": "date-time"}
    elif spec.type == "date":
        out = {"type": "string", "format": "date"}
    elif spec.type == "any":
        out = {}
    else:
        out = {"type": spec.type}
    if spec.enum is not None:
        out["enum"] = spec.enum
    if spec.min is not None:
        out["minimum"] = spec.min
    if spec.max is not None:
        out["maximum"] = spec.max
    if spec.description:
        out["description"] = spec.description
    if spec.default is not None:
        out["default"] = spec.default
    if not spec.required and spec.default is None and out.get("type"):
        out["type"] = [out["type"], "null"]
    return out


def field_paths(fields: FieldMap) -> dict[str, Any]:
    """A nested name tree for the expression checker: object fields are dicts, leaves are None."""
    tree: dict[str, Any] = {}
    for name, spec in fields.items():
        tree[name] = field_paths(spec.fields) if spec.type == "object" and spec.fields else None
    return tree


FieldSpec.model_rebuild()
