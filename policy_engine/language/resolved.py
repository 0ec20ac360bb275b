"""A resolved policy: one policy with `extends` applied, plus the calendar and templates it uses.

This is the unit a case pins: its content goes into the workflow history when the case opens, and
its SHA-256 is the policy version that the audit trail cites.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from policy_engine.language.calendars import Calendar
from policy_engine.language.model import Policy


def canonical_json(content: Any) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


@dataclass(frozen=True)
class ResolvedPolicy:
    policy: Policy
    calendar: Calendar | None
    templates: dict[str, dict[str, str]]  # template name -> locale -> source text
    version: str = field(default="")

    @staticmethod
    def build(policy: Policy, calendar: Calendar | None, templates: dict[str, dict[str, str]]) -> ResolvedPolicy:
        draft = ResolvedPolicy(policy, calendar, templates)
        digest = hashlib.sha256(canonical_json(draft.content())).hexdigest()
        return ResolvedPolicy(policy, calendar, templates, digest)

    @property
    def id(self) -> str:
        return self.policy.policy

    @property
    def case_type(self) -> str:
        return self.policy.case_type or ""

    @property
    def short_version(self) -> str:
        return self.version[:12]

    def content(self) -> dict[str, Any]:
        """JSON-ready content; defaults are left out so a new optional key keeps old versions."""
        return {
            "policy": self.policy.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            "calendar": None if self.calendar is None else self.calendar.model_dump(mode="json", exclude_defaults=True),
            "templates": self.templates,
        }

    @staticmethod
    def from_content(content: dict[str, Any], version: str | None = None) -> ResolvedPolicy:
        """Rebuild a pinned policy; when `version` is given it must match the content."""
        policy = Policy.model_validate(content["policy"])
        calendar = None if content.get("calendar") is None else Calendar.model_validate(content["calendar"])
        resolved = ResolvedPolicy.build(policy, calendar, content.get("templates") or {})
        if version is not None and resolved.version != version:
            raise ValueError(f"pinned policy content does not match its version {version[:12]}")
        return resolved
