"""Decision speed: our rule tables against zen-engine (GoRules) on equivalent first-hit tables.

Each table has N rows `category == X and amount >= Y` and a final catch-all; the input matches the
last conditional row, so every row is evaluated (the worst case for a first-hit table, for both).
"""

from __future__ import annotations

import json
from typing import Any

from bench.common import Result, best_rate
from policy_engine.language import Decision, evaluate


def _ours(rows: int) -> Decision:
    rules: list[dict[str, Any]] = [
        {
            "id": f"r{i}",
            "if": f"case.item.category == 'cat{i}' and case.order.amount >= {i * 10}",
            "then": {"remedy": f"remedy{i}"},
        }
        for i in range(1, rows)
    ]
    rules.append({"id": "otherwise", "then": {"remedy": "none"}})
    return Decision.model_validate({"rules": rules})


def _zen_content(rows: int) -> str:
    table_rules: list[dict[str, str]] = [
        {"_id": f"r{i}", "cat": f'"cat{i}"', "amt": f">= {i * 10}", "out": f'"remedy{i}"'} for i in range(1, rows)
    ]
    table_rules.append({"_id": "otherwise", "cat": "", "amt": "", "out": '"none"'})
    pos = {"x": 0, "y": 0}
    return json.dumps(
        {
            "nodes": [
                {"id": "in", "type": "inputNode", "name": "request", "position": pos},
                {
                    "id": "table",
                    "type": "decisionTableNode",
                    "name": "remedy",
                    "position": pos,
                    "content": {
                        "hitPolicy": "first",
                        "inputs": [
                            {"id": "cat", "name": "category", "field": "case.item.category"},
                            {"id": "amt", "name": "amount", "field": "case.order.amount"},
                        ],
                        "outputs": [{"id": "out", "name": "remedy", "field": "remedy"}],
                        "rules": table_rules,
                    },
                },
                {"id": "out", "type": "outputNode", "name": "response", "position": pos},
            ],
            "edges": [
                {"id": "e1", "sourceId": "in", "targetId": "table", "type": "edge"},
                {"id": "e2", "sourceId": "table", "targetId": "out", "type": "edge"},
            ],
        }
    )


def run(quick: bool) -> Result:
    import zen  # benchmark-only dependency (pip install -e '.[bench]')

    result = Result(
        "decisions",
        "Decision speed: evaluations per second, input matching the last conditional row",
        ["rows", "aftersales /s", "zen-engine /s", "ratio (ours / zen)", "same answer"],
    )
    engine = zen.ZenEngine()
    for rows in (3, 30, 300):
        ours = _ours(rows)
        decision = engine.create_decision(_zen_content(rows))
        last = rows - 1
        names = {"case": {"item": {"category": f"cat{last}"}, "order": {"amount": last * 10 + 5}}}
        mine = evaluate(ours, names)
        theirs = decision.evaluate(names)["result"]
        same = mine.outputs == theirs
        batch = max(1, 300 // rows)

        def ours_batch(ours: Decision = ours, names: dict[str, Any] = names, batch: int = batch) -> int:
            for _ in range(batch):
                evaluate(ours, names)
            return batch

        def zen_batch(decision: Any = decision, names: dict[str, Any] = names, batch: int = batch) -> int:
            for _ in range(batch):
                decision.evaluate(names)
            return batch

        repeats = 3 if quick else 7
        ours_rate, ours_all = best_rate(ours_batch, repeats)
        zen_rate, zen_all = best_rate(zen_batch, repeats)
        result.rows.append(
            [rows, ours_rate, zen_rate, ours_rate / zen_rate, "yes" if same else f"no: {mine.outputs} vs {theirs}"]
        )
        result.data[str(rows)] = {"ours": ours_all, "zen": zen_all}
    result.notes.append(
        "Ours also records, for the audit trail, every input a row read; zen-engine is called through its Python binding."
    )
    return result
