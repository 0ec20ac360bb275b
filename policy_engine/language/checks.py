"""Cross-reference checks of one policy: the mistakes a schema cannot see.

Every problem is reported at the place the operator must edit, through the policy's source map.
`PolicyChecker.run` goes through the policy in a fixed order; this module checks the handlers (what
they count, decide, set, run and where they go), events and the templates they send, and calls the
checks of definitions (`definition_checks`), expressions (`expression_checks`) and the state graph
(`reachability`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from policy_engine.language.actions import Action
from policy_engine.language.calendars import Calendar
from policy_engine.language.definition_checks import (
    check_calendar,
    check_complete,
    check_dates,
    check_decisions,
    check_parties,
    check_sla,
    check_states,
    check_windows,
)
from policy_engine.language.expression_checks import ExpressionChecker
from policy_engine.language.expressions import compile_template
from policy_engine.language.model import ROLES, Branch, Handler, Policy, Target
from policy_engine.language.name_checks import check_names
from policy_engine.language.problems import Problem, unknown_name
from policy_engine.language.reachability import check_reachability
from policy_engine.language.scope import Scope, event_scope, policy_scope
from policy_engine.language.template_checks import TemplateFile
from policy_engine.language.walk import all_actions, handler_expressions, handlers
from policy_engine.language.yamlsource import DocPath, Reporter, SourceMap


class PolicyChecker:
    def __init__(
        self,
        policy: Policy,
        smap: SourceMap,
        calendars: Mapping[str, Calendar],
        templates: Mapping[str, Mapping[str, TemplateFile]],
        *,
        all_files_read: bool = True,
    ) -> None:
        self.policy = policy
        # False when a YAML file of the set could not be read: a calendar it holds looks missing.
        self.all_files_read = all_files_read
        self.report = Reporter(smap)
        self.expressions = ExpressionChecker(policy, self.report)
        self.calendars = calendars
        self.templates = templates
        self.scope = policy_scope(policy)
        self.recipients = self._recipients()
        self.used_templates: set[str] = set()
        # Each template with the names in scope where it is sent: an event's handler sees `event`.
        self.template_uses: list[tuple[str, Scope]] = []

    def _recipients(self) -> set[str]:
        # Roles are the language's; a queue may be notified when the policy hands the case to it.
        names: set[str] = set(ROLES)
        for action, _ in all_actions(self.policy):
            if action.spec.queue is not None:
                names.add(getattr(action.params, action.spec.queue))
        return names

    # -- what an action's own check uses (ActionChecks) -----------------------------------------

    @property
    def event_names(self) -> Collection[str]:
        return self.policy.events.keys()

    def error(self, path: DocPath, message: str, *, at_key: bool = False) -> None:
        self.report.error(path, message, at_key=at_key)

    def run(self) -> list[Problem]:
        policy, report, expressions, scope = self.policy, self.report, self.expressions, self.scope
        # The order matters where a problem is reported once (a parameter written as text): at its
        # first use in this order.
        if not policy.abstract:
            check_complete(policy, report)
        check_calendar(policy, report, self.calendars, all_files_read=self.all_files_read)
        check_windows(policy, report, expressions, scope)
        expressions.check(("locale",), policy.locale, scope)
        expressions.check(("listing", "merchant"), policy.listing.merchant, scope)
        expressions.check(("listing", "priority"), policy.listing.priority, scope)
        check_parties(policy, report, expressions, scope)
        expressions.check(("when",), policy.when, {"case": scope["case"], "params": scope["params"], "now": None})
        check_decisions(policy, report, expressions, scope)
        self.check_events()
        for handler, path, event in handlers(policy):
            expressions.event = event
            self.check_handler(handler, path, event_scope(scope, policy, event) if event else scope)
        expressions.event = None
        self.check_open_reads()
        check_states(policy, report)
        check_sla(policy, report, expressions, scope)
        for ladder_name, ladder in policy.escalations.items():
            for i, level in enumerate(ladder.levels):
                self.check_actions(level.actions, ("escalations", ladder_name, "levels", i, "actions"), scope)
        if not policy.abstract and policy.states and policy.open is not None:
            check_reachability(policy, report)
        check_dates(policy, report)
        return report.problems

    def check_events(self) -> None:
        policy, report = self.policy, self.report
        for event_name, event in policy.events.items():
            for i, role in enumerate(event.roles):
                if role not in ROLES:
                    message = unknown_name("role", role, ROLES)
                    if "did you mean" not in message:
                        message += f" (roles: {', '.join(ROLES)})"
                    report.error(("events", event_name, "roles", i), message)
            scope = event_scope(self.scope, policy, event_name)
            self.expressions.event = event_name
            for i, requirement in enumerate(event.require):
                path: DocPath = ("events", event_name, "require", i)
                self.expressions.check((*path, "if"), requirement.if_, scope)
                try:
                    compile_template(requirement.message)
                except ValueError as exc:
                    report.error((*path, "message"), str(exc))
                    continue
                for message in check_names(requirement.message, scope, template=True):
                    report.error((*path, "message"), message)
        self.expressions.event = None

    def check_open_reads(self) -> None:
        """Decisions `open` reads must be taken by `open` first (the engine reads one not taken as none)."""
        policy = self.policy
        if policy.open is None:
            return
        decide = policy.open.decide
        for i, table in enumerate(decide):
            if table in policy.decisions:
                for j, rule in enumerate(policy.decisions[table].rules):
                    self._reads_taken(("decisions", table, "rules", j, "if"), rule.if_, decide[:i])
        for path, text in handler_expressions(policy.open, ("open",)):
            self._reads_taken(path, text, decide)
        for clock_name, clock in policy.sla.items():
            if "open" in clock.start and isinstance(clock.target, Target):
                self._reads_taken(("sla", clock_name, "target", "by"), clock.target.by, decide)

    def _reads_taken(self, path: DocPath, text: str | None, taken: list[str]) -> None:
        for table in self.expressions.decisions_read(text or ""):
            if table in self.expressions.taken and table not in taken:
                self.report.error_in_text(
                    path,
                    f"decisions.{table}",
                    f"decision '{table}' is read before it is taken: add it to `decide` in `open`, "
                    "before anything that reads it",
                )

    # -- handlers ---------------------------------------------------------------------------------

    def check_handler(self, handler: Handler, path: DocPath, scope: Scope) -> None:
        policy, report = self.policy, self.report
        # At the item (`count: [a, b]`); a single name written without a list (`count: a`) has no
        # item of its own, and the source map answers with the key's value.
        for i, counter in enumerate(handler.count):
            if counter not in policy.counters:
                report.error((*path, "count", i), unknown_name("counter", counter, policy.counters))
        for i, table in enumerate(handler.decide):
            if table not in policy.decisions:
                report.error((*path, "decide", i), unknown_name("decision", table, policy.decisions))
        self.check_sets(handler.set, (*path, "set"), scope)
        self.check_actions(handler.actions, (*path, "actions"), scope)
        self.check_escalate(handler.escalate, path)
        if isinstance(handler.goto, str):
            # A handler written as a bare state name has no `goto` key of its own in the source.
            long_form = (*path, "goto") in report.smap.values
            self.check_goto(handler.goto, (*path, "goto") if long_form else path)
        elif isinstance(handler.goto, list):
            for b, branch in enumerate(handler.goto):
                self.check_branch(branch, (*path, "goto", b), scope)

    def check_branch(self, branch: Branch, path: DocPath, scope: Scope) -> None:
        self.expressions.check((*path, "if"), branch.if_, scope)
        if branch.goto is not None:
            self.check_goto(branch.goto, (*path, "goto"))
        self.check_sets(branch.set, (*path, "set"), scope)
        self.check_actions(branch.actions, (*path, "actions"), scope)
        self.check_escalate(branch.escalate, path)

    def check_escalate(self, ladder: str | None, path: DocPath) -> None:
        if ladder is not None and ladder not in self.policy.escalations:
            self.report.error((*path, "escalate"), unknown_name("escalation ladder", ladder, self.policy.escalations))

    def check_goto(self, target: str, path: DocPath) -> None:
        if target not in self.policy.states:
            self.report.error(path, unknown_name("state", target, self.policy.states))

    def check_sets(self, sets: Mapping[str, str], path: DocPath, scope: Scope) -> None:
        for name, text in sets.items():
            if name not in self.policy.variables:
                self.report.error((*path, name), unknown_name("variable", name, self.policy.variables), at_key=True)
            self.expressions.check((*path, name), text, scope)

    def check_actions(self, actions: list[Action], path: DocPath, scope: Scope) -> None:
        for i, action in enumerate(actions):
            self.check_action(action, (*path, i, action.type), scope)

    def check_action(self, action: Action, path: DocPath, scope: Scope) -> None:
        """The names its expressions read, then the action type's own check."""
        for where, text in action.expressions():
            self.expressions.check((*path, *where), text, scope)
        if action.spec.check is not None:
            action.spec.check(self, action.params, path, scope)

    def check_template(self, name: str, path: DocPath, scope: Scope) -> None:
        self.used_templates.add(name)
        self.template_uses.append((name, scope))
        by_locale = self.templates.get(name, {})
        locales = self.policy.locales
        missing = [locale for locale in locales if locale not in by_locale]
        if not by_locale:
            self.report.error(
                path, unknown_name("template", name, self.templates) + f" (expected templates/{name}.{locales[0]}.j2)"
            )
        elif missing:
            self.report.error(
                path,
                f"template '{name}' has no text for locale {', '.join(missing)} "
                f"(expected templates/{name}.{missing[0]}.j2)",
            )
