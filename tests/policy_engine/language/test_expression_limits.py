"""What one evaluation may build: each cap lets its largest value through and refuses one more,
with a message naming the cap; the issue's probes are refused in a bounded subprocess."""

from __future__ import annotations

import json

import pytest

from policy_engine.language.expression_limits import (
    MAX_BUILT,
    MAX_FORMAT_WIDTH,
    MAX_LOOP_STEPS,
    MAX_NUMBER_DIGITS,
    MAX_RENDERED,
)
from policy_engine.language.expressions import ExpressionError, Template, compile_expression
from tests.policy_engine.language.bounded import run_bounded


def value_of(text: str) -> object:
    return compile_expression(text)({})


def refusal_of(text: str) -> str:
    with pytest.raises(ExpressionError) as info:
        value_of(text)
    return str(info.value)


def rendered(source: str) -> str:
    return Template(source).render({})


def render_refusal(source: str) -> str:
    with pytest.raises(ExpressionError) as info:
        rendered(source)
    return str(info.value)


def test_a_power_may_have_the_largest_number_of_digits_and_not_one_more() -> None:
    assert value_of(f"10 ** {MAX_NUMBER_DIGITS - 1}") == 10 ** (MAX_NUMBER_DIGITS - 1)
    assert refusal_of(f"10 ** {MAX_NUMBER_DIGITS}") == (
        f"`10 ** {MAX_NUMBER_DIGITS}`: `**` would make a number of more than {MAX_NUMBER_DIGITS:,} digits"
    )


def test_a_product_of_numbers_is_capped_the_same_way() -> None:
    half = MAX_NUMBER_DIGITS // 2
    assert value_of(f"10 ** {half - 1} * 10 ** {half}") == 10 ** (MAX_NUMBER_DIGITS - 1)
    assert "`*` would make a number of more than" in refusal_of(f"10 ** {half} * 10 ** {half}")


@pytest.mark.parametrize("sequence", ["'x'", "[1]"])
def test_repetition_may_build_the_budget_and_not_one_item_more(sequence: str) -> None:
    assert len(value_of(f"{sequence} * {MAX_BUILT}")) == MAX_BUILT  # type: ignore[arg-type]
    assert refusal_of(f"{sequence} * {MAX_BUILT + 1}").endswith(
        f"`*` would build more than {MAX_BUILT:,} characters or list items"
    )


def test_the_budget_counts_everything_one_evaluation_builds() -> None:
    # Two texts of a quarter each, then their sum of half: the whole budget.
    quarter = MAX_BUILT // 4
    assert len(value_of(f"'x' * {quarter} + 'y' * {quarter}")) == MAX_BUILT // 2  # type: ignore[arg-type]
    assert "`+` would build more than" in refusal_of(f"'x' * {quarter} + 'y' * {quarter} + 'z'")
    assert "`~` would build more than" in refusal_of(f"('x' * {quarter}) ~ ('y' * {quarter}) ~ 'z'")


@pytest.mark.parametrize(
    "template",
    [
        "'{{:>{width}}}'.format(1)",
        "'{{:.{width}f}}'.format(1.5)",
        "'%{width}d' % 1",
        "'%{width}d'|format(1)",
        "'x'.center({width})",
        "'x'.ljust({width})",
        "'x'.rjust({width})",
        "'7'.zfill({width})",
        "'x'|center({width})",
        "'a\\nb'|indent({width}, true)",
    ],
)
def test_a_format_width_or_size_argument_may_reach_the_cap_and_not_one_more(template: str) -> None:
    assert value_of(template.format(width=MAX_FORMAT_WIDTH))
    message = refusal_of(template.format(width=MAX_FORMAT_WIDTH + 1))
    assert message.endswith(f"a width of more than {MAX_FORMAT_WIDTH:,}"), message


def test_widths_taken_from_the_values_are_refused() -> None:
    assert "`*`" in refusal_of("'%*d' % (10, 1)")
    assert "`{}` inside a field" in refusal_of("'{:>{}}'.format(1, 10)")


def test_joining_and_replacing_count_what_they_would_build() -> None:
    assert value_of("['a', 'b']|join('-')") == "a-b"
    assert "`join` would build" in refusal_of(f"range(3)|join('x' * {MAX_BUILT // 2})")
    assert "`replace` would build" in refusal_of(f"('x' * 1000)|replace('', 'y' * {MAX_BUILT // 1000})")
    assert "`replace` would build" in refusal_of(f"('x' * 1000).replace('x', 'y' * {MAX_BUILT // 1000 + 1})")


def test_loops_may_take_the_largest_number_of_steps_and_not_one_more() -> None:
    assert rendered(f"{{% for i in range({MAX_LOOP_STEPS}) %}}{{% endfor %}}done") == "done"
    assert render_refusal(f"{{% for i in range({MAX_LOOP_STEPS + 1}) %}}{{% endfor %}}") == (
        f"template: more than {MAX_LOOP_STEPS:,} loop iterations and macro calls"
    )


def test_nested_loops_count_every_inner_step() -> None:
    # 99 outer steps and 99 * 100 inner ones: 9,999.
    assert rendered("{% for i in range(99) %}{% for j in range(100) %}{% endfor %}{% endfor %}.") == "."
    three_deep = "{% for a in 'x' * 1000 %}{% for b in 'x' * 1000 %}{% for c in 'x' * 1000 %}{% endfor %}"
    assert "loop iterations" in render_refusal(three_deep + "{% endfor %}{% endfor %}")


def test_recursive_loops_and_macros_take_steps_too() -> None:
    tree = "[" + ", ".join(["[[1], [2]]"] * 10) + "]"
    source = f"{{% for x in {tree} recursive %}}{{% if x is iterable %}}{{{{ loop(x) }}}}{{% endif %}}{{% endfor %}}"
    assert rendered(source) == ""
    doubling = f"{{% for x in [0] recursive %}}{{{{ loop(range({MAX_LOOP_STEPS})) if loop.depth == 1 }}}}{{% endfor %}}"
    assert "loop iterations" in render_refusal(doubling)
    calls = (
        f"{{% macro m() %}}{{% endmacro %}}{{% for i in range({MAX_LOOP_STEPS // 2 + 1}) %}}{{{{ m() }}}}{{% endfor %}}"
    )
    assert "loop iterations and macro calls" in render_refusal(calls)


def test_loop_length_and_last_still_work() -> None:
    assert rendered("{% for i in [7, 8] %}{{ loop.index }}/{{ loop.length }}{{ '.' if loop.last }} {% endfor %}") == (
        "1/2 2/2."
    )


def test_a_template_may_render_the_largest_text_and_not_one_character_more() -> None:
    assert len(rendered(f"{{{{ 'x' * {MAX_RENDERED} }}}}")) == MAX_RENDERED
    assert render_refusal(f"{{{{ 'x' * {MAX_RENDERED} }}}}.") == (
        f"template: the text would be longer than {MAX_RENDERED:,} characters"
    )


def test_lists_and_mappings_cannot_be_changed_in_place() -> None:
    assert "unsafe" in render_refusal("{% set items = [] %}{{ items.append(1) }}")
    assert "unsafe" in refusal_of("[1].extend([2])")


# The issue's probes: each froze a worker or took gigabytes. Run in a subprocess bounded in memory
# and time, so that a regression fails this test instead of the test run.
PROBES = [
    "10**(3*10**7) % 7 == 1",
    "'{:>999999999}'.format(1)",
    "'x'.center(999999999)",
    "'%999999999d'|format(1)",
    "'x' * 10**9",
    "[0] * 10**9",
    "'x'.expandtabs(999999999)",
    "('\t' * 1000).expandtabs(1000)",
    "'x'|indent(999999999)",
    "range(10)|join('x' * 999999)",
    "([[0] * 400000] * 2)|sum(start=[])",
]
_PROBE_SCRIPT = """
import json, sys
from policy_engine.language.expressions import ExpressionError, Template, compile_expression
results = {}
for text in json.loads(sys.argv[1]):
    try:
        compile_expression(text)({})
        results[text] = "evaluated"
    except ExpressionError as exc:
        results[text] = str(exc)
three_loops = "{% for a in 'x' * 10000 %}{% for b in 'x' * 10000 %}{% for c in 'x' * 10000 %}.{% endfor %}{% endfor %}{% endfor %}"
try:
    Template(three_loops).render({})
    results["three loops"] = "rendered"
except ExpressionError as exc:
    results["three loops"] = str(exc)
print(json.dumps(results))
"""


def test_the_issues_probes_are_refused_quickly_and_in_little_memory() -> None:
    result = run_bounded("-c", _PROBE_SCRIPT, json.dumps(PROBES))
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert set(outcomes) == {*PROBES, "three loops"}
    for probe, outcome in outcomes.items():
        assert any(cap in outcome for cap in ("digits", "a width of more", "would build more", "loop iterations")), (
            probe,
            outcome,
        )
