"""Actions are declared once (policy_engine.language.ACTIONS) and implemented once, by name, in the
engine: every declared action has an implementation, every implementation a declaration."""

from __future__ import annotations

import inspect

from policy_engine.engine import ACTION_IMPLEMENTATIONS
from policy_engine.language import ACTIONS, Action


def test_every_declared_action_has_an_implementation_and_every_implementation_a_declaration() -> None:
    assert set(ACTIONS) == set(ACTION_IMPLEMENTATIONS)


def test_each_implementation_takes_the_declared_parameters() -> None:
    for name, implementation in ACTION_IMPLEMENTATIONS.items():
        # Annotations are text (postponed evaluation): the model's name is what the engine declares.
        declared = inspect.get_annotations(implementation)["params"]
        assert declared in (ACTIONS[name].params, ACTIONS[name].params.__name__), name


def test_the_policy_model_has_one_key_per_declared_action_in_order() -> None:
    assert list(Action.model_fields) == list(ACTIONS)


def test_expression_and_queue_parameters_exist() -> None:
    for spec in ACTIONS.values():
        fields = spec.params.model_fields
        for key in spec.expressions:
            assert key in fields, (spec.name, key)
        assert spec.queue is None or spec.queue in fields, spec.name


def test_an_action_reads_its_type_params_and_expressions() -> None:
    action = Action.model_validate({"open_case": {"case_type": "'repair'", "data": {"order": "case.order_id"}}})
    assert action.type == "open_case"
    assert action.spec is ACTIONS["open_case"]
    assert list(action.expressions()) == [(("case_type",), "'repair'"), (("data", "order"), "case.order_id")]
