"""The state graph check on paths that part and join again: no state is reported as one `open` cannot
reach because the search met another state a second time.

The search takes the states it has still to visit from a stack, in an order that depends on how
Python orders a set of names (which changes from one run to the next); the policy below is built so
that, whichever order it takes, a search that stopped at the first state it met twice would leave
`working` or `with_merchant` unvisited and report it.
"""

from __future__ import annotations

from pathlib import Path

from tests.policy_engine.language.corpus import VALID, problems

# A ticket an agent works or hands to the merchant; either may solve it or put it on hold; a held
# ticket is solved in the end, and one the customer reopens goes on hold again:
# new -> working | with_merchant -> solved | on_hold; on_hold -> solved -> on_hold | closed.
EVENTS_AND_STATES = """\
    events:
      take: {roles: [agent]}
      hand_over: {roles: [agent]}
      hold: {roles: [agent, merchant]}
      solve:
        roles: [agent, merchant]
        data: {answer: string}
      reopen: {roles: [customer]}
      close: {roles: [customer, agent]}
    open:
      decide: priority
      goto: new
    states:
      new:
        on:
          take: working
          hand_over: with_merchant
      working:
        on:
          solve: solved
          hold: on_hold
      with_merchant:
        on:
          solve: solved
          hold: on_hold
      on_hold:
        on:
          solve: solved
      solved:
        on:
          reopen:
            count: reopens
            goto: on_hold
          close: closed
      closed: {terminal: true}
"""


def test_a_state_met_twice_does_not_end_the_search(tmp_path: Path) -> None:
    start, end = VALID.index("    events:\n"), VALID.index("    sla:\n")
    assert problems(tmp_path, VALID[:start] + EVENTS_AND_STATES + VALID[end:]) == []
