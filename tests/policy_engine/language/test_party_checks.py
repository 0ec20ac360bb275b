"""The validator on `parties`, line by line: each mistake reported whole, where it is written.

The broken-policy corpus (`tests/broken_policies/5NN-parties-*`) checks where each mistake is
reported and a part of its message, ignoring case; here every problem of those cases is checked word
for word (the role it names, the roles that can be bound, the field to bind instead), with the
mistakes that need more than one binding (a mistake in one binding does not hide one in the next)
and the bindings that are right and must load without a problem. Each policy is the corpus'
`_valid.yaml` with a `parties` block.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy_engine.language.corpus import CORPUS, VALID, problems_of

DATA_END = "      urgent: {type: boolean, default: false}\n"
PARAMETERS = "    parameters:\n"

# What the messages say again and again.
BOUND_ROLES = "(roles that can be bound: customer, merchant)"
NO_PARTY = (
    "has no party of its own in a case, so it cannot be bound: only customer, merchant can (agents and "
    "supervisors work any case from their queues, a mediator is appointed when mediation starts, the "
    "system is the platform itself)"
)
NOT_CASE_DATA = "a party is bound to the case data, and `{name}` is not the case data: write the field that holds"
CUSTOMER_FIXED = (
    "the customer must be bound to the case data field that holds its id (such as case.customer.id), "
    "not to a fixed value"
)
MERCHANT_FIXED = (
    "the merchant must be bound to the case data field that holds its id (such as case.order.merchant_id), "
    "not to a fixed value"
)
AMOUNT_NOT_TEXT = "`case.amount` is a number, not text: bind the {role} to the text field that holds its id"


def problems(*paths: Path) -> list[str]:
    """`FILE:LINE:COL: message` of every problem, FILE by its name; none when the policy loads."""
    return problems_of(*paths, with_file=True)


def with_parties(tmp_path: Path, parties: str, data: str = "") -> Path:
    """`_valid.yaml` with these lines of `parties` (from line 13 on) and of case data (above it)."""
    assert VALID.count(DATA_END) == 1 and VALID.count(PARAMETERS) == 1
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        VALID.replace(DATA_END, DATA_END + data).replace(PARAMETERS, "    parties:\n" + parties + PARAMETERS),
        encoding="utf-8",
    )
    return policy


CORPUS_PROBLEMS = {
    "500-parties-unknown-role.yaml": [f"14:7: unknown role 'custmer'; did you mean 'customer'? {BOUND_ROLES}"],
    "501-parties-agent-has-no-party.yaml": [f"14:7: role 'agent' {NO_PARTY}"],
    "502-parties-system-has-no-party.yaml": [f"15:7: role 'system' {NO_PARTY}"],
    "503-parties-unknown-field.yaml": ["14:17: unknown field 'case.customer.idd'; did you mean 'id'?"],
    "504-parties-not-case-data.yaml": [
        f"14:17: {NOT_CASE_DATA.format(name='params')} the customer's id, such as case.customer.id"
    ],
    "505-parties-fixed-value.yaml": [f"14:17: {CUSTOMER_FIXED}"],
    "506-parties-number-field.yaml": [f"14:17: {AMOUNT_NOT_TEXT.format(role='customer')}"],
    "507-parties-object-field.yaml": [
        "14:17: `case.customer` is a mapping, not text: bind the customer to the text field that holds its id"
    ],
    "508-parties-refund-reported-by-bound-role.yaml": [
        "66:63: 'paid' reports the refund back as role 'customer', which `parties` binds: the report would "
        "be refused; list `system` first in the roles of 'paid'"
    ],
    "509-parties-override-unknown-field.yaml": ["90:17: unknown field 'case.customer.uid'; did you mean 'id'?"],
    "510-parties-null-removes-nothing.yaml": [
        "90:17: `merchant: null` removes nothing: 'ticket' has no 'merchant' here"
    ],
    "511-parties-nested-number-field.yaml": [
        "15:17: `case.order.total` is a number, not text: bind the merchant to the text field that holds its id"
    ],
    "512-parties-quoted-number-field.yaml": [f"14:18: {AMOUNT_NOT_TEXT.format(role='customer')}"],
    "513-parties-params-after-case-field.yaml": [
        f"15:43: {NOT_CASE_DATA.format(name='params')} the merchant's id, such as case.order.merchant_id"
    ],
    "514-parties-comparison-not-text.yaml": [
        "14:17: the customer must be bound to the case data field that holds its id (such as case.customer.id),"
        " not to a computation"
    ],
    "526-parties-two-wrong-bindings.yaml": [  # the first wrong binding does not hide the second
        "15:17: the customer must be bound to the case data field that holds its id (such as case.customer.id),"
        " not to a computation",
        "16:17: `case.amount` is a number, not text: bind the merchant to the text field that holds its id",
    ],
}


@pytest.mark.parametrize("case", sorted(CORPUS_PROBLEMS))
def test_each_corpus_case_reports_exactly_its_mistake(case: str) -> None:
    assert problems(CORPUS / case) == [f"{case}:{line}" for line in CORPUS_PROBLEMS[case]]


def test_the_corpus_has_a_line_here_for_each_parties_case() -> None:
    """Each but those the validator does not pass yet (`# xfail:`)."""
    cases = CORPUS.glob("5[0-4][0-9]-parties-*.yaml")
    passing = [p.name for p in cases if "\n# xfail: " not in p.read_text(encoding="utf-8")]
    assert sorted(CORPUS_PROBLEMS) == sorted(passing)


# A mistake in one binding does not stop the check of the next: the operator sees both at once.
BOTH_MISTAKES = [
    pytest.param(
        "      custmer: case.customer.id\n      merchant: case.amount\n",
        [
            f"policy.yaml:13:7: unknown role 'custmer'; did you mean 'customer'? {BOUND_ROLES}",
            f"policy.yaml:14:17: {AMOUNT_NOT_TEXT.format(role='merchant')}",
        ],
        id="unknown-role",
    ),
    pytest.param(
        "      agent: case.customer.id\n      merchant: case.amount\n",
        [f"policy.yaml:13:7: role 'agent' {NO_PARTY}", f"policy.yaml:14:17: {AMOUNT_NOT_TEXT.format(role='merchant')}"],
        id="role-without-party",
    ),
    pytest.param(
        "      merchant: now\n      customer: case.amount\n",
        [
            f"policy.yaml:13:17: {NOT_CASE_DATA.format(name='now')} the merchant's id, such as case.order.merchant_id",
            f"policy.yaml:14:17: {AMOUNT_NOT_TEXT.format(role='customer')}",
        ],
        id="not-case-data",
    ),
    pytest.param(
        "      merchant: case.shop\n      customer: case.amount\n",
        [
            "policy.yaml:13:17: unknown field 'case.shop'",
            f"policy.yaml:14:17: {AMOUNT_NOT_TEXT.format(role='customer')}",
        ],
        id="unknown-field",
    ),
    pytest.param(
        "      merchant: \"'M-1'\"\n      customer: \"'C-1'\"\n",
        [f"policy.yaml:13:17: {MERCHANT_FIXED}", f"policy.yaml:14:17: {CUSTOMER_FIXED}"],
        id="fixed-values",
    ),
]


@pytest.mark.parametrize(("parties", "expected"), BOTH_MISTAKES)
def test_a_mistake_in_one_binding_does_not_hide_one_in_the_next(
    tmp_path: Path, parties: str, expected: list[str]
) -> None:
    assert problems(with_parties(tmp_path, parties)) == expected


# Bindings that are right: each loads without a problem.
RIGHT_BINDINGS = [
    pytest.param(
        "      merchant: case.order.merchant_id\n",
        "      order: {type: object, fields: {merchant_id: string, total: number}}\n",
        id="a-text-field-in-a-mapping",
    ),
    pytest.param(
        "      merchant: case.order.merchant_id or case.merchant_id\n",
        "      order: {type: object, fields: {merchant_id: {type: string, required: false}}}\n"
        "      merchant_id: {type: string, required: false}\n",
        id="one-text-field-or-another",
    ),
    # The field is a list, the binding its first item: an expression, not the list itself.
    pytest.param(
        "      merchant: case.sellers[0]\n", "      sellers: {type: list, items: string}\n", id="the-first-of-a-list"
    ),
    # A field of type `any` may hold text: the validator cannot tell, so it does not refuse it.
    pytest.param("      customer: case.ref\n", "      ref: any\n", id="a-field-of-any-type"),
    pytest.param("      customer: case.ref.id\n", "      ref: any\n", id="inside-a-field-of-any-type"),
]


@pytest.mark.parametrize(("parties", "data"), RIGHT_BINDINGS)
def test_a_binding_to_text_in_the_case_data_loads(tmp_path: Path, parties: str, data: str) -> None:
    assert problems(with_parties(tmp_path, parties, data)) == []
