"""Entry point of the `aftersales` command."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any, NoReturn

import typer
import typer.main
from typer.core import TyperOption

from aftersales_cli import (
    audit_cmds,
    calendar_cmds,
    case_cmds,
    codec_cmds,
    export_cmds,
    keys_cmds,
    ledger_cmds,
    policy_cmds,
    report_cmds,
    risk_cmds,
    server_cmds,
    simulate_cmds,
)
from aftersales_cli.help_text import reflow_tree


def _no_type_for_flags() -> None:
    """Help lists a flag such as --json without a value type (typer 0.29 shows `<bool>`, as if it took one)."""
    original = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else original(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_type_for_flags()

app = typer.Typer(
    help="aftersales: durable after-sales cases driven by YAML policies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(policy_cmds.app, name="policy")
app.command(name="simulate")(simulate_cmds.simulate)
policy_cmds.app.command(name="test")(simulate_cmds.policy_test)
app.add_typer(case_cmds.case_app, name="case")
app.command(name="worker")(server_cmds.worker)
app.command(name="dev")(server_cmds.dev)
app.command(name="outbox")(case_cmds.outbox)
app.command(name="schema")(case_cmds.schema)
app.add_typer(calendar_cmds.app, name="calendar")
app.add_typer(keys_cmds.keys_app, name="keys")
app.add_typer(keys_cmds.grants_app, name="grants")
app.add_typer(codec_cmds.codec_app, name="codec")
app.command(name="codec-server")(codec_cmds.codec_server)
app.add_typer(audit_cmds.app, name="audit")
_ = export_cmds  # imported for `case export`, which it adds to case_app
app.add_typer(ledger_cmds.ledger_app, name="ledger")
app.add_typer(risk_cmds.risk_app, name="risk")
app.add_typer(report_cmds.app, name="report")


def run() -> None:
    """Console entry: never show a traceback to a user, and always exit with the command's own code."""
    code: int
    try:
        command = typer.main.get_command(app)
        reflow_tree(command)
        command()
        code = 0
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except Exception as exc:  # the last line of defence: say what failed, not where in our code
        print(f"aftersales: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    exit_now(code)


def exit_now(code: int) -> NoReturn:
    """Flush and end the process without the interpreter's teardown.

    The Temporal SDK's runtime threads (Rust) may still be finishing a call when the interpreter
    shuts down, which aborts the process (exit 134 or 139) after the command printed its answer.
    Nothing of ours needs the teardown: output is flushed here, databases commit per statement.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    run()
