"""`aftersales audit show`: the audit bundle as JSON and as one HTML page, the page read in a real
browser (tests/browser.py). The case's data is caller-written: a `<script>` in a complaint's
description must show as text and never run."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from audit.bundle_html import GLOSSARY
from policy_engine.testing import load_scenario
from tests.audit.conftest import TASK_QUEUE
from tests.browser import dump_dom, read_png, screenshot
from tests.cli import ROOT, aftersales
from tests.conftest import SCENARIOS
from tests.e2e.harness import Deferred, run_live
from tests.principal import NAME, process_env

STORY = ROOT / "tests" / "histories" / "complaint-resolve-warning-then-met.json"
DESCRIPTION = "The wireless mouse double-clicks on every single click"
INJECTED = "<script>document.title='INJECTED'</script><img src=x onerror=\"document.title='INJECTED'\">"


def _with_description(folder: Path, text: str) -> Path:
    """The recorded complaint, its customer's description replaced wherever a payload carries it."""
    history = json.loads(STORY.read_text(encoding="utf-8"))

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "data" in node and "metadata" in node and isinstance(node["data"], str):
                decoded = base64.b64decode(node["data"]).decode("utf-8")
                replaced = decoded.replace(DESCRIPTION, json.dumps(text)[1:-1])
                node["data"] = base64.b64encode(replaced.encode("utf-8")).decode()
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(history)
    path = folder / "history.json"
    path.write_text(json.dumps(history), encoding="utf-8")
    return path


def _show(folder: Path, *args: str, env: dict[str, str] | None = None, command: tuple[str, ...] = ("show",)) -> Path:
    out = folder / ("bundle.html" if "html" in args else "bundle.json")
    base = {"AFTERSALES_HOME": str(ROOT), "AFTERSALES_TIMEZONE": "Asia/Shanghai", **process_env(folder)}
    result = aftersales("audit", *command, *args, "--out", str(out), env={**base, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # personal data
    return out


def test_the_json_bundle_holds_who_did_what_the_policy_decisions_clocks_and_verdict(tmp_path: Path) -> None:
    bundle = json.loads(_show(tmp_path, "--history", str(STORY)).read_text(encoding="utf-8"))

    assert bundle["case_id"] == "CP-3015-d6ee6d5a" and bundle["case_type"] == "complaint"
    assert bundle["verification"] == {"verified": True, "inputs": 9, "divergences": [], "notes": []}
    assert bundle["policy"]["id"] == "complaint-default" and len(bundle["policy"]["version"]) == 64
    assert bundle["policy"]["content"]["policy"]["policy"] == "complaint-default"
    events = [(e["event"], e["role"], e["actor_id"]) for e in bundle["inputs"] if "event" in e]
    assert events == [
        ("acknowledge", "agent", "A-7"),
        ("propose_resolution", "agent", "A-7"),
        ("accept", "customer", "C-115"),
    ]
    assert [(d["table"], d["rule"]) for d in bundle["decisions"]] == [("priority", "p3-default")]
    assert bundle["decisions"][0]["inputs"]["case.amount"] == 89
    assert [(t["from"], t["to"]) for t in bundle["transitions"]][:2] == [
        (None, "received"),
        ("received", "investigating"),
    ]
    clocks = {c["name"]: (c["status"], c["due"]) for c in bundle["sla"]}
    assert clocks == {
        "acknowledge": ("met", "2026-11-17T10:00:00+08:00"),
        "resolve": ("met", "2026-11-19T10:00:00+08:00"),
    }
    assert [e["type"] for e in bundle["effects"]][:2] == ["assign", "notify"]
    assert {e["delivery"] for e in bundle["effects"]} == {"unknown (no outbox here)"}


async def test_a_live_case_bundle_says_each_effect_was_delivered_and_who_signed(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred, tmp_path: Path
) -> None:
    live = await run_live(env, load_scenario(SCENARIOS / "return-no-reason-happy-path.yaml"), TASK_QUEUE, deferred)
    server = {"TEMPORAL_ADDRESS": env.client.service_client.config.target_host, "AFTERSALES_OUTBOX": str(outbox.path)}

    bundle = json.loads(_show(tmp_path, live.case_id, env=server).read_text(encoding="utf-8"))
    refund = next(e for e in bundle["effects"] if e["type"] == "refund")
    assert refund["delivery"] == "in the outbox, not marked delivered" and refund["params"] == {"amount": 299}
    outbox.mark_delivered(refund["key"])  # what the relay does once the payment service has it

    # `aftersales audit CASE` is `aftersales audit show CASE`.
    bundle = json.loads(_show(tmp_path, live.case_id, env=server, command=()).read_text(encoding="utf-8"))

    assert bundle["verification"]["verified"] is True
    refund = next(e for e in bundle["effects"] if e["type"] == "refund")
    assert refund["delivery"] == "delivered" and refund["attempts"] == 1
    assert {e["principal"] for e in bundle["inputs"] if "event" in e} == {NAME}
    assert bundle["opening"]["principal"] == NAME


def test_the_page_renders_in_a_browser_with_every_section_and_the_injected_script_as_text(tmp_path: Path) -> None:
    page = _show(tmp_path, "--history", str(_with_description(tmp_path, INJECTED)), "--format", "html")
    source = page.read_text(encoding="utf-8")
    assert "<script" not in source and "http://" not in source and "https://" not in source  # self-contained

    dom = dump_dom(page)

    assert "<title>Audit of case CP-3015-d6ee6d5a</title>" in dom  # the injected script did not run
    assert "INJECTED" in dom and "&lt;script&gt;document.title=" in dom  # shown, as text
    for section in (
        "verification",
        "opening",
        "timeline",
        "decisions",
        "transitions",
        "sla",
        "effects",
        "policy",
        "glossary",
    ):
        assert f'id="{section}"' in dom, section
    assert "p3-default" in dom and "2026-11-19 10:00:00 +08:00" in dom and "verified</span>" in dom
    assert all(term in dom for term, _ in GLOSSARY)

    image = read_png(screenshot(page, tmp_path / "page.png"))
    assert (image.width, image.height) == (1280, 2000)
    assert len(image.colours()) > 20  # text in several colours on a page, not a blank one
