"""A live case whose SLA clock counts in working days and is held over a weekend, for the replay corpus.

No default policy has such a clock, so the case runs on `ticket-review` (the cn-mainland calendar
file; the test principal may open `ticket` cases): `review` is due in 2 working days and pauses in
`held`. Opened Thu 5 Nov 2026 10:00 (due Tue 10 Nov 00:00), held Fri 16:00, let go on Mon 09:00,
finished Wed 11 Nov 12:00.

- Since the `working-day-pauses` patch the 32 h of working days left at the pause run from Monday
  09:00: the clock breaches on Tuesday at 17:00 (`path-working-day-pauses.json`, recorded by
  `make histories`).
- The release before kept the 80 h left in elapsed time: due Thursday 17:00, the clock was met
  (`release-6-working-day-pause-elapsed.json`, recorded with that release's code).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from policy_engine.testing import Scenario, parse_scenario_text
from tests.e2e.harness import SCENARIO_DATES, Deferred, policy_folder_of, run_live, running_worker

POLICY = """
policies:
  - policy: ticket-review
    title: A review due in working days, held while waiting (replay corpus only)
    case_type: ticket
    calendar: cn-mainland
    locales: [en]
    events:
      hold: {roles: [agent]}
      go_on: {roles: [agent]}
      finish: {roles: [agent]}
    open:
      goto: running
    states:
      running:
        on: {hold: held, finish: done}
        timers:
          # Pending when the case is finished, so the update that finishes it wakes the run to return.
          give_up: {after: 30 calendar days, goto: done}
      held:
        on: {go_on: running, finish: done}
      done: {terminal: true}
    sla:
      review:
        start: open
        stop: [done]
        pause: [held]
        target: 2 working days
        on_breach:
          actions: [{record: {name: review_late, value: "true"}}]
"""

AGENT = "actor: {role: agent, id: A-1}"
SCENARIO = f"""
case_type: ticket
case_id: WDP-1
opened_at: 2026-11-05T10:00:00+08:00
events:
  - {{at: 2026-11-06T16:00:00+08:00, name: hold, {AGENT}}}
  - {{at: 2026-11-09T09:00:00+08:00, name: go_on, {AGENT}}}
  - {{at: 2026-11-11T12:00:00+08:00, name: finish, {AGENT}}}
"""


def scenario() -> Scenario:
    return parse_scenario_text(SCENARIO, "working-day-pauses.yaml")


def policy_folder(folder: Path) -> Path:
    return policy_folder_of(folder, "ticket-review.yaml", POLICY)


async def record_held_case(env: WorkflowEnvironment, target: Path, task_queue: str) -> None:
    """Run the case on a worker of its own and write its history to `target`."""
    deferred = Deferred()
    with tempfile.TemporaryDirectory() as tmp:
        folder = policy_folder(Path(tmp) / "policies")
        async with running_worker(env.client, folder, Path(tmp) / "o.sqlite3", task_queue, deferred, SCENARIO_DATES):
            live = await run_live(env, scenario(), task_queue, deferred)
            history = await live.handle.fetch_history()
    target.write_text(history.to_json(), encoding="utf-8")
    print(f"recorded {target.name} ({len(history.events)} events)")
