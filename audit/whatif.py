"""What-if on real past cases: each case's opening and accepted events, read from its history, as a
scenario that `simulate --compare` runs under two policy sets (each set selects the policy it would
give that opening). Events a policy refuses show up as the case's refused events."""

from __future__ import annotations

from temporalio.client import Client

from audit.cases import case_ids_matching, closed_since_query, fetch_cases, parse_since
from audit.scenario import case_scenario
from audit.verify import pinned_of
from policy_engine.testing import Scenario


async def past_case_scenarios(
    client: Client, query: str | None, closed_since: str | None
) -> tuple[list[Scenario], list[str]]:
    """The matching cases as scenarios (oldest opening first), and why any case could not be read.

    Raises ValueError for a `closed_since` that is not a date.
    """
    since = None if closed_since is None else parse_since(closed_since)
    ids = await case_ids_matching(client, closed_since_query(since, query))
    scenarios: list[Scenario] = []
    unread: list[str] = []
    async for _, case in fetch_cases(client, ids):
        if isinstance(case, str):
            unread.append(case)
        elif case.pinned is not None:  # an opening refused before any policy was pinned has no story
            scenarios.append(case_scenario(case, pinned_of(case)))
    scenarios.sort(key=lambda s: (s.opened_at, s.case_id))
    return scenarios, unread
