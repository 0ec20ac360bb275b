"""`aftersales keys ...` and `aftersales grants validate`: principals, their keys and the grants file.

The private key of a principal is written to `.aftersales/keys/NAME.pem` (0600, folder 0700) and
never anywhere else; the grants file (`grants.yaml` in the project folder) gets the public key.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection
from pathlib import Path

import typer
from rich.table import Table

from aftersales_cli.common import EXIT_FAILED, EXIT_INVALID, console, err_console, settings, where
from policy_engine.language.problems import PolicyError, did_you_mean, unknown_name
from service.identity.edit import Entry, disable_principal, put_principal, read_entries, write_checked
from service.identity.grants import PRINCIPAL_NAME, Grants, GrantsError, grants_path, load_grants, parse_grants
from service.identity.keys import (
    KEYS_DIR,
    KeyProblem,
    fingerprint,
    load_private_key,
    new_private_key,
    public_pem,
    write_private_key,
)

keys_app = typer.Typer(help="Principals (the services that call cases) and their keys.", no_args_is_help=True)
grants_app = typer.Typer(help="The grants file: who may call, in which roles.", no_args_is_help=True)

SHORT_FINGERPRINT = len("SHA256:") + 12  # 72 bits: enough to tell a principal's keys apart
GRANTS_HELP = "The grants file (default: grants.yaml in the project folder)."


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    err_console.print(f"aftersales: {message}", markup=False)
    return typer.Exit(code)


def _grants_file(given: Path | None) -> Path:
    return given if given is not None else grants_path(settings().home)


def _keys_dir() -> Path:
    return Path(settings().home) / KEYS_DIR


def _case_types() -> list[str] | None:
    """The case types of the project's policies, or None when they cannot be loaded (not checked then)."""
    from policy_engine.language import load_policy_set

    folder = Path(settings().policy_dir)
    if not folder.is_dir():
        return None
    try:
        return list(load_policy_set([folder]).case_types)
    except PolicyError:
        return None


def _print_problems(exc: GrantsError) -> None:
    for problem in exc.problems:
        print(str(problem))  # plain: editors and CI read these lines


def _load_existing(path: Path, case_types: Collection[str] | None) -> Grants | None:
    """The grants file if there is one (None if not); a broken one stops the command with its problems."""
    if not path.exists():
        return None
    try:
        return load_grants(path, case_types=case_types, display=where(path))
    except GrantsError as exc:
        _print_problems(exc)
        raise _fail(f"{where(path)} has problems; fix them first (aftersales grants validate)", EXIT_INVALID) from None


def _names(value: str | None, option: str, kind: str, known: Collection[str] | None) -> list[str]:
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    for name in names:
        if known is not None and name not in known:
            raise _fail(
                f"{option}: {unknown_name(kind, name, known)} ({kind}s: {', '.join(sorted(known))})", EXIT_INVALID
            )
    if len(set(names)) != len(names):
        raise _fail(f"{option}: a {kind} is listed twice", EXIT_INVALID)
    return names


def _set_aside(path: Path) -> Path:
    """Rename an existing private key file out of the way (never deleted: it may still be in use)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.stem}.{stamp}.pem")
    os.replace(path, target)
    return target


@keys_app.command("new")
def new(
    name: str = typer.Argument(..., help="The principal's name, e.g. merchant-portal (the service that will sign)."),
    roles: str | None = typer.Option(
        None,
        "--roles",
        help="Roles it may assert, comma separated: customer, merchant, agent, supervisor, mediator, system.",
    ),
    open_types: str | None = typer.Option(
        None, "--open-types", help="Case types it may open, comma separated (e.g. return,complaint); none by default."
    ),
    note: str | None = typer.Option(None, "--note", help="What this principal is (shown in the grants file)."),
    rotate: bool = typer.Option(
        False, "--rotate", help="Give an existing principal a new key; its old key keeps working until you remove it."
    ),
    grants: Path | None = typer.Option(None, "--grants", help=GRANTS_HELP, show_default=False),
) -> None:
    """Make a key pair for a principal and grant it roles (adds or updates it in the grants file)."""
    from policy_engine.language import ROLES

    if not PRINCIPAL_NAME.fullmatch(name):
        raise _fail(
            "a principal's name is lower-case letters, digits, '.', '_' and '-' (up to 63, starting with a "
            "letter or digit), e.g. merchant-portal",
            EXIT_INVALID,
        )
    path = _grants_file(grants)
    case_types = _case_types()
    role_names = _names(roles, "--roles", "role", ROLES)
    type_names = _names(open_types, "--open-types", "case type", case_types)
    _load_existing(path, case_types)
    entries = read_entries(path)
    old = entries.get(name)
    if old is not None and not old.disabled and not rotate:
        raise _fail(
            f"principal '{name}' already exists in {where(path)} with {len(old.keys)} key(s); to give it a new key "
            "alongside the old one, run again with --rotate (see docs/security.md, rotation)"
        )
    if old is None and rotate:
        raise _fail(f"no principal '{name}' in {where(path)} to rotate{did_you_mean(name, entries)}")
    if old is None and not role_names:
        raise _fail("--roles is required for a new principal, e.g. --roles merchant", EXIT_INVALID)

    key = new_private_key()
    pem = public_pem(key)
    if old is None:
        entry = Entry(role_names, type_names, [pem], note=note or "")
        did = f"added {name}"
    else:
        # A revoked principal comes back with the new key only; a rotation keeps the old keys too.
        entry = Entry(
            roles=role_names or old.roles,
            open_types=type_names if open_types is not None else old.open_types,
            keys=[pem] if old.disabled else [*old.keys, pem],
            expires=old.expires,
            note=note if note is not None else old.note,
        )
        if old.disabled:
            did = f"re-enabled {name} with the new key only (its {len(old.keys)} old key(s) removed)"
        else:
            did = f"added a key to {name} (its {len(old.keys)} old key(s) still work until you remove them)"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        new_text = put_principal(text, name, entry)
        # Checked before anything is written: a refused edit leaves neither a key nor a changed file.
        parse_grants(new_text.encode("utf-8"), where(path), base_dir=path.parent, case_types=case_types)
    except GrantsError as exc:
        _print_problems(exc)
        raise _fail(f"the edit would leave {where(path)} invalid; nothing was changed", EXIT_INVALID) from None

    key_file = _keys_dir() / f"{name}.pem"
    try:
        set_aside = _set_aside(key_file) if key_file.exists() else None
        write_private_key(key_file, key)
    except OSError as exc:
        raise _fail(f"cannot write the private key to {where(key_file)}: {exc.strerror or exc}") from None
    try:
        write_checked(path, new_text, case_types=case_types)
    except (GrantsError, OSError) as exc:
        key_file.unlink(missing_ok=True)
        if set_aside is not None:
            os.replace(set_aside, key_file)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "invalid result"
        raise _fail(f"cannot write {where(path)}: {reason}; nothing was changed") from None

    granted = f"roles {', '.join(entry.roles)}; " + (
        f"may open {', '.join(entry.open_types)}" if entry.open_types else "opens no cases"
    )
    console.print(f"created a key pair for principal [bold]{name}[/bold] ({fingerprint(key)})", markup=True)
    console.print(f"  private key  {where(key_file)}  (mode 0600 in a 0700 folder: only you can read it)", markup=False)
    if set_aside is not None:
        console.print(f"               the previous private key file is now {where(set_aside)}", markup=False)
    console.print(f"  grants       {where(path)}: {did}: {granted}", markup=False)
    console.print(
        f"\nGive the private key to the service that signs as {name} through your secret store (a secret mounted\n"
        f"as a file only that service's user can read), never by e-mail or chat, then delete it here:\n"
        f"  rm {where(key_file)}\n"
        "The service loads it with service.identity.load_private_key(path) and signs each event with\n"
        "service.identity.mint(...) (CaseClient(principal=..., private_key=...) does it); see docs/security.md.\n"
        "A running worker picks the change up within seconds (AFTERSALES_GRANTS).",
        markup=False,
    )


@keys_app.command("list")
def list_keys(grants: Path | None = typer.Option(None, "--grants", help=GRANTS_HELP, show_default=False)) -> None:
    """The principals: status, roles, case types they may open, key fingerprints."""
    path = _grants_file(grants)
    loaded = _load_existing(path, _case_types())
    if loaded is None:
        err_console.print(
            f"no grants file at {where(path)}: every caller is refused. "
            "Add a principal with `aftersales keys new NAME --roles ROLE`.",
            markup=False,
        )
        return
    if not len(loaded):
        err_console.print(f"{where(path)} grants nothing: every caller is refused", markup=False)
        return
    now = dt.datetime.now(dt.UTC)
    principals = sorted(loaded, key=lambda p: p.name)
    show_expires = any(p.expires for p in principals)
    table = Table(
        title=f"principals in {where(path)}", caption="keys: fingerprint beginnings (full: in the token's kid)"
    )
    columns = ["principal", "status", "roles", "may open", "keys", *(["expires"] if show_expires else []), "key here"]
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column == "keys")
    for p in principals:
        status = p.status(now)
        style = {"active": "green", "disabled": "red", "expired": "yellow"}[status]
        private = _keys_dir() / f"{p.name}.pem"
        here = "-"
        if private.exists():
            try:
                here = "yes" if fingerprint(load_private_key(private)) in {k.fingerprint for k in p.keys} else "old key"
            except KeyProblem:
                here = "unusable"
        row = [
            p.name,
            f"[{style}]{status}[/{style}]",
            ", ".join(sorted(p.roles)),
            ", ".join(sorted(p.open_types)) or "-",
            "\n".join(k.fingerprint[:SHORT_FINGERPRINT] for k in p.keys) or "-",
            *([p.expires.isoformat() if p.expires else ""] if show_expires else []),
            here,
        ]
        table.add_row(*row)
    console.print(table)


@keys_app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="The principal to refuse from now on."),
    grants: Path | None = typer.Option(None, "--grants", help=GRANTS_HELP, show_default=False),
) -> None:
    """Mark a principal disabled: its tokens are refused, whatever key signed them."""
    path = _grants_file(grants)
    case_types = _case_types()
    if _load_existing(path, case_types) is None:
        raise _fail(f"no grants file at {where(path)}: there is nothing to revoke")
    entries = read_entries(path)
    old = entries.get(name)
    if old is None:
        raise _fail(f"no principal '{name}' in {where(path)}{did_you_mean(name, entries)}")
    if old.disabled:
        console.print(f"{name} was already revoked in {where(path)}; nothing changed", markup=False)
        return
    try:
        write_checked(path, disable_principal(path.read_text(encoding="utf-8"), name), case_types=case_types)
    except GrantsError as exc:
        _print_problems(exc)
        raise _fail(f"the edit would leave {where(path)} invalid; nothing was changed", EXIT_INVALID) from None
    console.print(f"revoked {name} in {where(path)} (disabled: true): its tokens are refused", markup=False)
    private = _keys_dir() / f"{name}.pem"
    if private.exists():
        console.print(f"its private key is still at {where(private)}; delete it if nothing else needs it", markup=False)
    console.print("A running worker refuses its calls within seconds (docs/security.md).", markup=False)


@grants_app.command("validate")
def validate(
    file: Path | None = typer.Argument(None, help=GRANTS_HELP, show_default=False),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only problems."),
) -> None:
    """Check a grants file; print every problem as FILE:LINE:COL: message (exit 1 if any)."""
    path = _grants_file(file)
    case_types = _case_types()
    try:
        loaded = load_grants(path, case_types=case_types, display=where(path))
    except GrantsError as exc:
        _print_problems(exc)
        raise typer.Exit(EXIT_FAILED) from None
    if not quiet:
        now = dt.datetime.now(dt.UTC)
        active = sum(1 for p in loaded if p.status(now) == "active")
        checked = (
            f"case types checked against the policies ({', '.join(case_types)})"
            if case_types is not None
            else "policies not loaded: case types checked for spelling only"
        )
        err_console.print(f"[green]ok[/green]: {where(path)}: {len(loaded)} principal(s), {active} active; {checked}")
