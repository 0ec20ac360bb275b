"""What a case accepts from its callers, bounded: its id, the size and depth of its data, event keys.

Pure and deterministic (workflow code): the same checks run in `CaseClient` before anything is
sent, in the `aftersales` command, in the workflow's update validators and signal handling, and in
the `resolve_policy` activity. The data caps are the worker's settings (`DataLimits`), recorded in
the case's history by `resolve_policy` and carried across continue-as-new: no caller can set them.

A reason names the rule that was broken and the size measured, never the caller's value (an id or
data may be personal data, and reasons end up in timelines and logs).
"""

from __future__ import annotations

import re
from typing import Any

from service.identity.tokens import canonical_json
from workflows.contract import DataLimits

# Case ids. The alphabet is what Temporal ids, visibility queries, log lines, file names and URLs all
# carry as written: no spaces, quotes, slashes, control or bidirectional characters. A linked case's
# id is its parent's with `-<type>-<seq>` added (the engine's `open_case`); callers' ids stop at
# CASE_ID_MAX so that the link form of the longest of them (`-refund_only-` and a sequence number of
# up to 27 digits) still fits LINKED_CASE_ID_MAX. A link of a link that would not fit is refused by
# the worker when it opens it (an action that failed, in the parent's timeline).
CASE_ID_MAX = 160
LINKED_CASE_ID_MAX = 200
_CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
CASE_ID_RULE = (
    f"a case id is 1 to {CASE_ID_MAX} characters: ASCII letters, digits, '-', '_', '.' and ':', "
    "starting with a letter or a digit"
)
# An event's idempotency key: the case keeps the keys it applied, so a key is bounded as an id is.
EVENT_KEY_MAX = 128
EVENT_KEY_RULE = f"an event key is 1 to {EVENT_KEY_MAX} characters"
# The end of the reason for data that JSON cannot hold (NaN, a set...).
NOT_JSON = "cannot be written as JSON (only text, numbers, true/false, null, lists and mappings)"


def case_id_problem(case_id: object, *, linked: bool = False) -> str | None:
    """Why `case_id` is not a valid case id, or None. `linked`: an id the worker derived for a linked case."""
    limit = LINKED_CASE_ID_MAX if linked else CASE_ID_MAX
    if not isinstance(case_id, str) or not case_id:
        return f"the case id is missing: {CASE_ID_RULE}"
    if len(case_id) > limit:
        return f"the case id is {len(case_id)} characters long: {CASE_ID_RULE}" + (
            f" (a linked case's id, at most {LINKED_CASE_ID_MAX})" if linked else ""
        )
    if _CASE_ID.fullmatch(case_id) is None:
        return f"the case id has a character outside the allowed ones: {CASE_ID_RULE}"
    return None


def event_key_problem(key: str | None) -> str | None:
    """Why an event's idempotency key is refused, or None (no key, or a fitting one)."""
    if key is None:
        return None
    if not key or len(key) > EVENT_KEY_MAX:
        return f"the event key is {len(key)} characters long: {EVENT_KEY_RULE}"
    return None


def nesting_depth(value: Any, stop_above: int) -> int:
    """How deeply mappings and lists nest in `value` (a scalar is 0, `{}` is 1); counting stops once
    past `stop_above`, so a hostile depth costs no more than the limit (and no recursion)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list | tuple) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > stop_above:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest


def data_problem(data: Any, *, what: str, max_bytes: int, max_depth: int, setting: str) -> str | None:
    """Why data is refused for its depth, its size (as canonical JSON) or its content, or None.

    `what` names the data in the reason ("the event data"), `setting` the worker's setting that caps it.
    """
    depth = nesting_depth(data, max_depth)
    if depth > max_depth:
        return f"{what} nests more than {max_depth} levels deep (AFTERSALES_MAX_DATA_DEPTH)"
    try:
        size = len(canonical_json(data))
    except (ValueError, TypeError, RecursionError):
        return f"{what} {NOT_JSON}"
    if size > max_bytes:
        return f"{what} is {size:,} bytes as canonical JSON, more than the {max_bytes:,} allowed ({setting})"
    return None


def event_data_problem(data: Any, limits: DataLimits) -> str | None:
    return data_problem(
        data,
        what="the event data",
        max_bytes=limits.event_data_bytes,
        max_depth=limits.data_depth,
        setting="AFTERSALES_MAX_EVENT_DATA_BYTES",
    )


def case_data_problem(data: Any, limits: DataLimits) -> str | None:
    return data_problem(
        data,
        what="the case data",
        max_bytes=limits.case_data_bytes,
        max_depth=limits.data_depth,
        setting="AFTERSALES_MAX_CASE_DATA_BYTES",
    )
