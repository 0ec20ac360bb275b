"""The pure core of aftersales: the policy language, its loader and validator, calendars and the
case engine. Nothing in this package performs I/O at case time or reads the clock, so the same
code runs inside Temporal workflows, the simulator and policy tests.

Grouped by phase, each subpackage with its public API in its `__init__`:

- `language`: what operators write and what it means (source-mapped YAML, the model, expressions,
  decision tables, checks, calendars, loading, policy selection, pinned policies);
- `engine`: a case run on a resolved policy, `(policy, state, input, now) -> (state, commands)`;
- `testing`: scenarios run in virtual time, policy-test coverage, what-if comparisons;
- `tools`: policy diffs, state diagrams, generated calendars.

`language` depends on nothing else here; `engine` on `language`; `testing` and `tools` on both.
"""

__all__ = ["engine", "language", "testing", "tools"]
