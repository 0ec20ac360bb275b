"""Names in templates are checked with Jinja's scoping, and variables may not hide other names."""

from __future__ import annotations

from policy_engine.language.name_checks import check_names
from policy_engine.language.scope import Scope

SCOPE: Scope = {"case": {"items": None, "note": None}, "case_id": None}


def problems(source: str) -> list[str]:
    return check_names(source, SCOPE, template=True)


def test_a_loop_variable_and_loop_are_defined_inside_the_loop_only() -> None:
    assert problems("{% for item in case.items %}{{ item }} {{ loop.index }}{% endfor %}") == []
    assert problems("{% for item in case.items %}{% endfor %}{{ item }}") == [
        "name 'item' is read outside the loop or block that defines it"
    ]
    assert problems("{% for item in case.items %}{% else %}{{ item }}{% endfor %}") == [
        "name 'item' is read outside the loop or block that defines it"
    ]
    assert problems("{{ loop.index }}") == ["unknown name 'loop'"]


def test_a_set_defines_its_name_from_there_on_and_inside_a_loop_only_there() -> None:
    assert problems("{% set greeting = 'hi' %}{{ greeting }}") == []
    assert problems("{{ greeting }}{% set greeting = 'hi' %}") == [
        "name 'greeting' is read outside the loop or block that defines it"
    ]
    assert problems("{% for i in case.items %}{% set last = i %}{% endfor %}{{ last }}") == [
        "name 'last' is read outside the loop or block that defines it"
    ]
    assert problems("{% if case.note %}{% set shown = 1 %}{% endif %}{{ shown }}") == []


def test_macro_parameters_exist_inside_the_macro() -> None:
    assert problems("{% macro line(text) %}{{ text }}{% endmacro %}{{ line(case.note) }}") == []
    assert problems("{% macro line(text) %}{% endmacro %}{{ text }}") == [
        "name 'text' is read outside the loop or block that defines it"
    ]


def test_variables_may_not_hide_declared_or_jinja_names() -> None:
    assert problems("{% for case_id in [1] %}{% endfor %}") == [
        "loop variable 'case_id' hides the policy's 'case_id'; give it another name"
    ]
    assert problems("{% for a, loop in [[1, 2]] %}{% endfor %}") == [
        "loop variable 'loop' hides Jinja's 'loop'; give it another name"
    ]
    assert problems("{% set range = 3 %}") == ["variable 'range' hides Jinja's 'range'; give it another name"]
    assert problems("{% for item in case.items %}{% endfor %}") == []


def test_constant_parts_past_a_cap_are_refused_and_others_are_left_to_run_time() -> None:
    assert problems("{{ 2 ** 3321 > 0 }}") == []
    assert problems("{{ 2 ** 3322 > 0 }}") == [
        "fails whenever it runs: `**` would make a number of more than 1,000 digits"
    ]
    assert problems("{{ 1 // 0 }}") == []  # a division by zero is the run time's to report
    assert problems("{{ case.note * 10 }}") == []  # reads the case: not constant
    assert problems("{{ '%1001s' % case.note }}") == ["fails whenever it runs: `%` format: a width of more than 1,000"]
    assert problems("{{ case.note.rjust(1000) }}") == []
