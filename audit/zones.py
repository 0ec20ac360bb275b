"""The time zone an audit bundle shows its times in, and times written in it.

A compliance reader reads the platform's local time: the zone of the calendar the case's pinned
policy counts working days in (`timezone` of policies/calendars/*.yaml), UTC when the policy has no
calendar, or the zone the reader asks for (`--zone`). Every time keeps an explicit offset, so the
JSON stays machine-stable (ISO 8601 with offset) whichever zone it is written in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from policy_engine.language import ResolvedPolicy

UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class BundleZone:
    zone: ZoneInfo
    source: str  # why this zone, as the bundle says it

    @property
    def name(self) -> str:
        return self.zone.key


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name` (Asia/Shanghai, UTC); ValueError saying what is expected otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("--zone: not an IANA time zone name (Asia/Shanghai, Europe/Berlin, UTC)") from None


def bundle_zone(policy: ResolvedPolicy | None, override: ZoneInfo | None = None) -> BundleZone:
    """The zone asked for, else that of the pinned policy's calendar, else UTC."""
    if override is not None:
        return BundleZone(override, "--zone")
    if policy is not None and policy.calendar is not None:
        return BundleZone(
            ZoneInfo(policy.calendar.timezone), f"the pinned policy's calendar {policy.calendar.calendar}"
        )
    if policy is None:
        return BundleZone(UTC, "UTC: the case pinned no policy")
    return BundleZone(UTC, "UTC: the pinned policy has no calendar")


def iso_in(value: Any, zone: ZoneInfo) -> Any:
    """A time (a datetime or its ISO text; naive: UTC) as ISO 8601 in `zone`, with its offset.
    Anything else (None, text that is not a time) is returned as it is."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(zone).isoformat()


def readable_time(at: dt.datetime, zone: dt.tzinfo) -> str:
    """A time as a person reads it, to the second, with its offset: `2026-11-03 10:00:00 +08:00`."""
    local = at.astimezone(zone)
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S ") + offset[:3] + ":" + offset[3:]


def readable(value: Any) -> Any:
    """An ISO 8601 time with its offset (the bundle's) as a person reads it, in that same offset;
    anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return value if at.tzinfo is None else readable_time(at, at.tzinfo)
