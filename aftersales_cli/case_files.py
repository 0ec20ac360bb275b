"""Case files and `--data` as a person writes them: YAML or JSON, relative times, mistakes named.

A case file is `{case_type, case_id, data, opened_at?}`. Times may be written relative to the
moment the command runs (`-2d`, `-36h`, `+1h`, `now`) in `opened_at` and in every data field whose
name ends in `_at` (`paid_at`, `delivered_at`, ...), so an example case stays valid for ever: a
return delivered "two days ago" is inside its 7-day window whenever it is opened.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policy_engine.language import Exact, parse_duration, value_kind
from workflows.bounds import case_id_problem

_RELATIVE = re.compile(r"^(?P<sign>[+-])\s*(?P<duration>.+)$")
REQUIRED_KEYS = ("case_type", "case_id", "data")


class InputError(ValueError):
    """A case file or --data value that cannot be used; the message names where and why."""


def parse_mapping(text: str, source: str) -> dict[str, Any]:
    """YAML or JSON text that must be a mapping; `source` names it in messages (a file or `--data`)."""
    try:
        value = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise InputError(f"{where}: not valid YAML or JSON: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML or JSON ({type(exc).__name__})") from None
    if value is None:
        raise InputError(f"{source}: empty; expected a mapping such as {{tracking: SF1}}")
    if not isinstance(value, dict):
        raise InputError(f"{source}: expected a mapping such as {{tracking: SF1}}, not {value_kind(value)}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise InputError(f"{source}: keys must be names, not {value_kind(bad[0])} {bad[0]!r}")
    return value


@dataclass(frozen=True)
class CaseFile:
    case_type: str
    case_id: str
    data: dict[str, Any]
    opened_at: dt.datetime | None
    relative: bool  # some time was written relative to now, so each reading gives other data


def read_case_file(source: str, now: dt.datetime) -> CaseFile:
    """A case file, or `-` for standard input."""
    if source == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{source}: no such file" if not path.exists() else f"{source}: not a file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{source}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
        name = source
    spec = parse_mapping(text, name)
    missing = [k for k in REQUIRED_KEYS if k not in spec]
    if missing:
        raise InputError(f"{name}: missing {', '.join(missing)} (a case file has case_type, case_id and data)")
    unknown = sorted(set(spec) - {*REQUIRED_KEYS, "opened_at"})
    if unknown:
        raise InputError(f"{name}: unknown key {unknown[0]} (a case file has case_type, case_id, data, opened_at)")
    if not isinstance(spec["data"], dict):
        raise InputError(f"{name}: data must be a mapping, not {value_kind(spec['data'])}")
    for key in ("case_type", "case_id"):
        if not isinstance(spec[key], str | int) or isinstance(spec[key], bool) or str(spec[key]) == "":
            raise InputError(f"{name}: {key} must be a non-empty text")
    bad_id = case_id_problem(str(spec["case_id"]))
    if bad_id is not None:
        raise InputError(f"{name}: case_id: {bad_id}")
    opened_at = spec.get("opened_at")
    when = None if opened_at is None else _moment(opened_at, now, f"{name}: opened_at")
    relative: list[str] = []
    data = resolve_relative_times(spec["data"], now, f"{name}: data", relative=relative)
    return CaseFile(str(spec["case_type"]), str(spec["case_id"]), data, when, bool(relative) or _is_relative(opened_at))


def resolve_relative_times(
    value: Any, now: dt.datetime, where: str, key: str = "", *, relative: list[str] | None = None
) -> Any:
    """A copy of `value` where every `*_at` field written as a relative time is an ISO date-time.

    Other values come back as JSON would carry them (dates and times as ISO text). The places of
    the relative times are appended to `relative`.
    """
    if isinstance(value, dict):
        return {k: resolve_relative_times(v, now, f"{where}.{k}", str(k), relative=relative) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_relative_times(v, now, f"{where}[{i}]", key, relative=relative) for i, v in enumerate(value)]
    if key.endswith("_at") and _is_relative(value):
        if relative is not None:
            relative.append(where)
        return _moment(value, now, where).isoformat()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _is_relative(value: Any) -> bool:
    return isinstance(value, str) and (value.strip() == "now" or _RELATIVE.match(value.strip()) is not None)


def _moment(value: Any, now: dt.datetime, where: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise InputError(f"{where}: {value.isoformat()} needs a UTC offset, such as +08:00")
        return value
    text = str(value).strip()
    if text == "now":
        return now
    match = _RELATIVE.match(text)
    if match:
        try:
            duration = parse_duration(match["duration"])
        except ValueError:
            duration = None
        if not isinstance(duration, Exact):
            raise InputError(f"{where}: '{text}' is not a relative time; write -2d, -36h, +90m or now")
        delta = dt.timedelta(seconds=duration.seconds)
        return now - delta if match["sign"] == "-" else now + delta
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{where}: '{text}' is neither a date-time (2026-11-22T15:00:00+08:00) nor -2d") from None
    if parsed.tzinfo is None:
        raise InputError(f"{where}: '{text}' needs a UTC offset, such as +08:00")
    return parsed
