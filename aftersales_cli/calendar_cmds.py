"""`aftersales calendar generate`: write a year's working-day data from the `holidays` library."""

from __future__ import annotations

from pathlib import Path

import typer

from aftersales_cli.common import EXIT_INVALID, err_console

app = typer.Typer(help="Working-day calendars.", no_args_is_help=True)


@app.command()
def generate(
    name: str = typer.Argument("cn-mainland", help="The calendar name (cn-mainland is supported)."),
    years: list[int] = typer.Option(..., "--year", help="Years to generate (repeat the option)."),
    timezone: str = typer.Option("Asia/Shanghai", "--timezone"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of printing."),
) -> None:
    """Generate calendar data; the policy pins what is written, so a library update changes nothing."""
    try:
        from policy_engine.tools import generate_cn_mainland, render_calendar_yaml
    except ImportError:
        err_console.print("install the calendars extra: pip install -e '.[calendars]'")
        raise typer.Exit(EXIT_INVALID) from None
    if name != "cn-mainland":
        err_console.print("only cn-mainland can be generated for now; write other calendars by hand")
        raise typer.Exit(EXIT_INVALID)
    text = render_calendar_yaml(name, timezone, {year: generate_cn_mainland(year) for year in years})
    if output:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}")
    else:
        print(text)
