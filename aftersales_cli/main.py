"""Entry point of the `aftersales` command."""

from __future__ import annotations

import sys

import typer

from aftersales_cli import calendar_cmds, case_cmds, policy_cmds, server_cmds, simulate_cmds

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


def run() -> None:
    """Console entry: never show a traceback to a user."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # the last line of defence: say what failed, not where in our code
        print(f"aftersales: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run()
