"""Timer names: how the engine names the timers it keeps in a case, and reads them back.

A case's timers live in its state by name (`CaseState.timers`); the names travel in workflow
histories (continue-as-new carries the state, status answers list the deadlines), so their text is
part of the contract and never changes:

  state:<state>:<timer>      a state's timer (`after:` or `at:` a window's end)
  sla:<clock>:warn           an SLA clock's warning
  sla:<clock>:breach         an SLA clock's target
  ladder:<ladder>:<level>    a level of an escalation ladder

Every name is built by `str(TimerName(...))` and read by `TimerName.parse`, nowhere else. The names
of states, timers, clocks and ladders cannot hold ':' (the language's `Name`), so the text splits
back unambiguously.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, NamedTuple

TimerKind = Literal["state", "sla", "ladder"]
_KINDS: tuple[TimerKind, ...] = ("state", "sla", "ladder")


class TimerName(NamedTuple):
    """A timer of a case: its owner (a state, an SLA clock, a ladder) and which of the owner's timers.

    `which` is the state's timer name, `warn` or `breach` for a clock, or the level number for a
    ladder (as text; `level` reads it as a number). A named tuple: the engine makes thousands a second.
    """

    kind: TimerKind
    owner: str
    which: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.owner}:{self.which}"  # `prefix_of` its owner, then which timer

    @staticmethod
    def parse(text: str) -> TimerName:
        """The timer a name stands for; raises ValueError for text that is not a timer name."""
        return _parse(text)

    @staticmethod
    def of_state(state: str, timer: str) -> TimerName:
        return TimerName("state", state, timer)

    @staticmethod
    def sla_warning(clock: str) -> TimerName:
        return TimerName("sla", clock, "warn")

    @staticmethod
    def sla_breach(clock: str) -> TimerName:
        return TimerName("sla", clock, "breach")

    @staticmethod
    def ladder_level(ladder: str, level: int) -> TimerName:
        return TimerName("ladder", ladder, str(level))

    @property
    def level(self) -> int:
        """The ladder level of a ladder's timer."""
        return int(self.which)

    @staticmethod
    def prefix_of(kind: TimerKind, owner: str) -> str:
        """The text every name of the timers of one state, clock or ladder begins with."""
        return f"{kind}:{owner}:"


@lru_cache(maxsize=4096)
def _parse(text: str) -> TimerName:
    # Cached: a case asks for the same few names again and again (leaving a state, stopping a ladder).
    kind, _, rest = text.partition(":")
    owner, _, which = rest.partition(":")
    if kind not in _KINDS or not owner or not which:
        raise ValueError(f"'{text}' is not a timer name")
    return TimerName(kind, owner, which)
