"""Generated documents kept in the repository: loop diagrams and the JSON Schemas for editors.

`make docs` writes them; a test fails when a checked-in copy differs from what the code generates,
so the docs cannot drift from the policies and the language.
"""

from __future__ import annotations

import json
from pathlib import Path

from policy_engine.language import calendar_file_schema, load_policy_set, policy_file_schema
from policy_engine.tools import mermaid

# The product's own documents, in its source tree (not an operator's project folder).
REPO = Path(__file__).resolve().parent.parent
LOOPS_PAGE = Path("docs/loops.md")
POLICY_SCHEMA = Path("schema/policy.schema.json")
CALENDAR_SCHEMA = Path("schema/calendar.schema.json")

_HEADER = """# The default loops, as diagrams

Generated from `policies/` by `make docs` (each diagram is `aftersales policy graph CASE_TYPE`; a test
keeps this page equal to it). Plain arrows are events, with the roles that may send them; `after ...`
arrows are timers; notes show SLA clocks, timers that only escalate or notify, and events accepted in
any open state.
"""


def loops_page(policy_dir: Path = REPO / "policies") -> str:
    policy_set = load_policy_set([policy_dir])
    parts = [_HEADER]
    for case_type in policy_set.case_types:
        # The diagram of the policy a case with no override runs (the last candidate: no `when`).
        resolved = policy_set.for_case_type(case_type)[-1]
        title = resolved.policy.title or case_type
        parts.append(f"## {title}: `{case_type}`\n\n```mermaid\n{mermaid(resolved.policy)}```\n")
    return "\n".join(parts)


def schema_text(calendar: bool = False) -> str:
    return json.dumps(calendar_file_schema() if calendar else policy_file_schema(), indent=2, ensure_ascii=False) + "\n"


def generated() -> dict[Path, str]:
    return {LOOPS_PAGE: loops_page(), POLICY_SCHEMA: schema_text(), CALENDAR_SCHEMA: schema_text(calendar=True)}


def main() -> None:
    for path, text in generated().items():
        (REPO / path).parent.mkdir(parents=True, exist_ok=True)
        (REPO / path).write_text(text, encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
