"""Where a problem in a message template is reported, and that it is reported once."""

from __future__ import annotations

from policy_engine.language.problems import Problem
from policy_engine.language.scope import Scope
from policy_engine.language.template_checks import TemplateFile, _locate, check_template_files


def test_a_name_is_located_where_it_first_appears() -> None:
    source = "Hello {{ case_id }}\nNote: {{ vars.nte }} ({{ vars.nte }})\n"
    assert _locate(source, "unknown field 'vars.nte'") == (2, 10)


def test_a_name_at_the_start_of_a_line_is_located_in_column_1() -> None:
    source = "Note: {{\nvars.nte }}\n"
    assert _locate(source, "unknown field 'vars.nte'") == (2, 1)


def test_a_message_quoting_nothing_found_is_located_at_the_start() -> None:
    assert _locate("Hello\n{{ x }}\n", "unknown name 'missing'") == (1, 1)
    assert _locate("Hello\n{{ x }}\n", "a message that quotes nothing") == (1, 1)


def test_a_template_sent_from_two_places_reports_its_mistake_once() -> None:
    scope: Scope = {"case_id": None, "vars": {"note": None}}
    text = TemplateFile("greet", "en", "templates/greet.en.j2", "Note: {{ vars.nte }}\n")
    problems = check_template_files({"greet": {"en": text}}, [("greet", scope), ("greet", dict(scope))])
    assert problems == [
        Problem("templates/greet.en.j2", 1, 10, "unknown field 'vars.nte'; did you mean 'note'?"),
    ]


def test_a_template_not_sent_anywhere_is_compiled_but_its_names_are_not_checked() -> None:
    scope: Scope = {"case_id": None}
    unused = TemplateFile("other", "en", "templates/other.en.j2", "{{ vars.nte }}")
    broken = TemplateFile("broken", "en", "templates/broken.en.j2", "ok\n{{ case_id }\n")
    problems = check_template_files({"other": {"en": unused}, "broken": {"en": broken}}, [("greet", scope)])
    assert [(p.file, p.line, p.col) for p in problems] == [("templates/broken.en.j2", 2, 1)]


def test_lines_are_counted_at_newlines_only_as_the_template_engine_counts_them() -> None:
    # A form feed, NEL or line separator in the text does not start a line for Jinja (which gives the
    # problem's line), so it must not start one here: the read on line 3 is not the one on line 2.
    for separator in ("\x0c", "\x85", "\u2028"):
        source = f"Dear customer,{separator}thanks.\nNote: {{{{ vars.nte }}}}\nAgain {{{{ vars.nte }}}}\n"
        assert _locate(source, "unknown field 'vars.nte'", lineno=3) == (3, 10), repr(separator)
