"""Command help flows to the terminal's width: no sentence cut where the docstring's source line ended."""

from __future__ import annotations

import typer.main

from aftersales_cli.help_text import reflow, reflow_paragraph, reflow_tree
from aftersales_cli.main import app
from tests.cli import aftersales


def test_a_paragraphs_lines_are_joined() -> None:
    assert reflow_paragraph("Replays each case and compares\ntransitions with what it recorded.") == (
        "Replays each case and compares transitions with what it recorded."
    )


def test_list_items_indented_lines_and_marked_paragraphs_keep_their_breaks() -> None:
    assert reflow_paragraph("Exit codes:\n- 0: verified\n- 1: diverged") == "Exit codes:\n- 0: verified\n- 1: diverged"
    assert reflow_paragraph("Steps:\n1. open\n2. verify") == "Steps:\n1. open\n2. verify"
    assert reflow_paragraph("Example:\n    aftersales audit R-1") == "Example:\n    aftersales audit R-1"
    assert reflow_paragraph("\bkept\nas written") == "\bkept\nas written"


def test_paragraphs_stay_apart_and_what_follows_a_form_feed_is_left_alone() -> None:
    text = """First line
    of the summary.

    Second paragraph,
    two lines.
    \f
    internal
    notes"""
    assert reflow(text) == "First line of the summary.\n\nSecond paragraph, two lines.\n\f\ninternal\nnotes"


def test_every_command_and_option_of_the_cli_is_reflowed() -> None:
    command = typer.main.get_command(app)
    reflow_tree(command)
    cut: list[str] = []

    def visit(node: object, path: str) -> None:
        for text in [
            getattr(node, "help", None) or "",
            *(getattr(p, "help", None) or "" for p in getattr(node, "params", [])),
        ]:
            for paragraph in text.partition("\f")[0].split("\n\n"):
                if paragraph != reflow_paragraph(paragraph):
                    cut.append(f"{path}: {paragraph[:60]!r}")
        for name, sub in getattr(node, "commands", {}).items():
            visit(sub, f"{path} {name}")

    visit(command, "aftersales")
    assert not cut, cut


def test_the_help_a_user_reads_has_whole_sentences_on_a_line() -> None:
    shown = aftersales("audit", "verify", "--help").stdout
    assert "on the policy it pinned and compares transitions, actions, decisions and SLA outcomes" in shown
