"""The policy language: what operators write and what it means before any case runs.

Source-mapped YAML, problems reported as `FILE:LINE:COL: message`, the typed policy model, fields,
durations, expressions and decision tables, the checks a schema cannot do, calendars, the loader
that accepts a policy set whole or not at all, policy selection, and resolved (pinned) policies.
"""

from policy_engine.language.actions import (
    ACTIONS,
    Action,
    ActionChecks,
    ActionSpec,
    AdvancePaymentParams,
    AssignParams,
    EscalateParams,
    NotifyParams,
    OpenCaseParams,
    RecordParams,
    RefundParams,
)
from policy_engine.language.calendars import Calendar, CalendarRangeError
from policy_engine.language.checks import PolicyChecker
from policy_engine.language.decisions import Outcome, evaluate, evaluate_rows, output_value, plain
from policy_engine.language.durations import (
    BusinessHours,
    CalendarDays,
    Duration,
    Exact,
    WorkingDays,
    format_duration,
    needs_calendar,
    parse_duration,
)
from policy_engine.language.expressions import (
    ExpressionError,
    compile_expression,
    compile_template,
    lookup_path,
    referenced_paths,
)
from policy_engine.language.fields import FieldSpec, json_schema, normalise_data, value_kind
from policy_engine.language.language_schema import calendar_file_schema, policy_file_schema
from policy_engine.language.loader import display_path, load_policy_set, pydantic_problems
from policy_engine.language.model import (
    PARTY_ROLES,
    ROLES,
    Branch,
    Decision,
    Event,
    Handler,
    Ladder,
    Level,
    Policy,
    Rule,
    SlaClock,
    State,
    Target,
    Timer,
    Window,
)
from policy_engine.language.pinning import pinned_policy, remember
from policy_engine.language.problems import PolicyError, Problem, did_you_mean, unknown_name
from policy_engine.language.resolved import ResolvedPolicy, canonical_json
from policy_engine.language.selection import PolicySet, SelectionError
from policy_engine.language.template_checks import TemplateFile, check_template_files
from policy_engine.language.terms import DurationText, Expr, Name, PolicyModel, duration_of
from policy_engine.language.walk import Move, all_actions, handlers, moves, targets
from policy_engine.language.yamlsource import DocPath, Reporter, SourceMap, load_yaml_file, load_yaml_text

__all__ = [
    "ACTIONS",
    "PARTY_ROLES",
    "ROLES",
    "Action",
    "ActionChecks",
    "ActionSpec",
    "AdvancePaymentParams",
    "AssignParams",
    "Branch",
    "BusinessHours",
    "Calendar",
    "CalendarDays",
    "CalendarRangeError",
    "Decision",
    "DocPath",
    "Duration",
    "DurationText",
    "EscalateParams",
    "Event",
    "Exact",
    "Expr",
    "ExpressionError",
    "FieldSpec",
    "Handler",
    "Ladder",
    "Level",
    "Move",
    "Name",
    "NotifyParams",
    "OpenCaseParams",
    "Outcome",
    "Policy",
    "PolicyChecker",
    "PolicyError",
    "PolicyModel",
    "PolicySet",
    "Problem",
    "RecordParams",
    "RefundParams",
    "Reporter",
    "ResolvedPolicy",
    "Rule",
    "SelectionError",
    "SlaClock",
    "SourceMap",
    "State",
    "Target",
    "TemplateFile",
    "Timer",
    "Window",
    "WorkingDays",
    "all_actions",
    "calendar_file_schema",
    "canonical_json",
    "check_template_files",
    "compile_expression",
    "compile_template",
    "did_you_mean",
    "display_path",
    "duration_of",
    "evaluate",
    "evaluate_rows",
    "format_duration",
    "handlers",
    "json_schema",
    "load_policy_set",
    "load_yaml_file",
    "load_yaml_text",
    "lookup_path",
    "moves",
    "needs_calendar",
    "normalise_data",
    "output_value",
    "parse_duration",
    "pinned_policy",
    "plain",
    "policy_file_schema",
    "pydantic_problems",
    "referenced_paths",
    "remember",
    "targets",
    "unknown_name",
    "value_kind",
]
