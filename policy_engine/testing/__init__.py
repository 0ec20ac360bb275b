"""Policy tests and simulations: scenario files run in virtual time on the case engine, what they
cover, and what an edit would change on them (what-if)."""

from policy_engine.testing.coverage import LoopCoverage, coverage, policy_items, reached_items
from policy_engine.testing.scenario import (
    EffectExpectation,
    Expectation,
    Scenario,
    ScenarioEvent,
    load_scenario,
    parse_scenario_text,
    scenario_files,
)
from policy_engine.testing.simulator import (
    ActionRecord,
    SimulationResult,
    check_expectations,
    result_of,
    run_on_policy,
    run_scenario,
)
from policy_engine.testing.whatif import CompareReport, FieldChange, ScenarioChange, compare_results

__all__ = [
    "ActionRecord",
    "CompareReport",
    "EffectExpectation",
    "Expectation",
    "FieldChange",
    "LoopCoverage",
    "Scenario",
    "ScenarioChange",
    "ScenarioEvent",
    "SimulationResult",
    "check_expectations",
    "compare_results",
    "coverage",
    "load_scenario",
    "parse_scenario_text",
    "policy_items",
    "reached_items",
    "result_of",
    "run_on_policy",
    "run_scenario",
    "scenario_files",
]
