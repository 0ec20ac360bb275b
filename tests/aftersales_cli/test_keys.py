"""`aftersales keys new|list|revoke` and `aftersales grants validate`, run as a user runs them."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from service.identity import fingerprint, load_grants, load_private_key, mint, verify
from tests.cli import ROOT, aftersales

NOW = dt.datetime(2026, 11, 3, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the default policies (their case types check `--open-types`)."""
    (tmp_path / "policies").symlink_to(ROOT / "policies")
    return tmp_path


def run(project: Path, *args: str) -> tuple[int, str, str]:
    result = aftersales(*args, cwd=project, env={"AFTERSALES_HOME": str(project)})
    return result.returncode, result.stdout, result.stderr


def test_keys_new_makes_an_owner_only_key_and_a_valid_grant(project: Path) -> None:
    code, out, err = run(project, "keys", "new", "merchant-portal", "--roles", "merchant", "--open-types", "return")
    assert code == 0, out + err
    private = project / ".aftersales" / "keys" / "merchant-portal.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    key = load_private_key(private)
    grants = load_grants(project / "grants.yaml", case_types=["return"])
    portal = grants.get("merchant-portal")
    assert portal is not None and portal.roles == {"merchant"} and portal.open_types == {"return"}
    assert [k.fingerprint for k in portal.keys] == [fingerprint(key)]
    assert f"created a key pair for principal merchant-portal ({fingerprint(key)})" in out
    assert "private key  .aftersales/keys/merchant-portal.pem  (mode 0600" in out
    assert "grants       grants.yaml: added merchant-portal: roles merchant; may open return" in out
    assert "secret store" in out and "rm .aftersales/keys/merchant-portal.pem" in out
    assert "PRIVATE KEY" not in (project / "grants.yaml").read_text()
    # The key signs tokens the grants file accepts.
    event = {"case_id": "R-1", "event": "merchant_approve", "data": {}, "role": "merchant"}
    assert verify(mint("merchant-portal", key, now=NOW, **event), grants, now=NOW, **event).name == "merchant-portal"


def test_keys_new_refuses_what_it_cannot_grant(project: Path) -> None:
    code, _, err = run(project, "keys", "new", "app", "--roles", "customer,merchnt")
    assert code == 2 and "--roles: unknown role 'merchnt'; did you mean 'merchant'?" in err
    code, _, err = run(project, "keys", "new", "app", "--roles", "customer", "--open-types", "retrun")
    assert code == 2 and "--open-types: unknown case type 'retrun'; did you mean 'return'?" in err
    code, _, err = run(project, "keys", "new", "App Server", "--roles", "customer")
    assert code == 2 and "a principal's name is lower-case letters" in err
    code, _, err = run(project, "keys", "new", "app")
    assert code == 2 and "--roles is required for a new principal" in err
    assert not (project / "grants.yaml").exists() and not (project / ".aftersales").exists()


def test_rotation_keeps_the_old_key_until_it_is_removed(project: Path) -> None:
    assert run(project, "keys", "new", "app", "--roles", "customer")[0] == 0
    first = fingerprint(load_private_key(project / ".aftersales/keys/app.pem"))
    code, _, err = run(project, "keys", "new", "app", "--roles", "customer")
    assert code == 1 and "already exists in grants.yaml with 1 key(s)" in err and "--rotate" in err
    code, _, err = run(project, "keys", "new", "ap", "--rotate")
    assert code == 1 and "no principal 'ap' in grants.yaml to rotate; did you mean 'app'?" in err
    code, out, err = run(project, "keys", "new", "app", "--rotate")
    assert code == 0, out + err
    second = fingerprint(load_private_key(project / ".aftersales/keys/app.pem"))
    app = load_grants(project / "grants.yaml").get("app")
    assert app is not None and [k.fingerprint for k in app.keys] == [first, second] and app.roles == {"customer"}
    [old_file] = [p for p in (project / ".aftersales/keys").iterdir() if p.name != "app.pem"]
    assert fingerprint(load_private_key(old_file)) == first and f"now {old_file.relative_to(project)}" in out
    assert "its 1 old key(s) still work until you remove them" in out


def test_list_and_revoke(project: Path) -> None:
    run(project, "keys", "new", "customer-app", "--roles", "customer", "--open-types", "return,complaint")
    run(project, "keys", "new", "service-console", "--roles", "agent,supervisor")
    code, out, _ = run(project, "keys", "list")
    assert code == 0
    assert "customer-app" in out and "complaint, return" in out and "agent, supervisor" in out
    key = load_private_key(project / ".aftersales/keys/customer-app.pem")
    assert fingerprint(key)[:19] in out

    code, out, _ = run(project, "keys", "revoke", "customer-app")
    assert code == 0 and "revoked customer-app in grants.yaml (disabled: true)" in out
    app = load_grants(project / "grants.yaml").get("customer-app")
    assert app is not None and app.disabled
    assert "disabled" in run(project, "keys", "list")[1]
    code, out, _ = run(project, "keys", "revoke", "customer-app")
    assert code == 0 and "already revoked" in out
    code, _, err = run(project, "keys", "revoke", "custmer-app")
    assert code == 1 and "no principal 'custmer-app' in grants.yaml; did you mean 'customer-app'?" in err

    # A revoked principal comes back with a new key only.
    code, out, _ = run(project, "keys", "new", "customer-app", "--roles", "customer")
    assert code == 0 and "re-enabled customer-app with the new key only" in out
    app = load_grants(project / "grants.yaml").get("customer-app")
    assert app is not None and not app.disabled and len(app.keys) == 1
    assert app.open_types == {"return", "complaint"}  # kept when not given again


def test_commands_keep_the_operators_comments(project: Path) -> None:
    run(project, "keys", "new", "customer-app", "--roles", "customer")
    grants = project / "grants.yaml"
    text = grants.read_text().replace("principals:\n", "principals:\n  # the app, owned by team A\n") + "# the end\n"
    grants.write_text(text)
    run(project, "keys", "new", "merchant-portal", "--roles", "merchant")
    run(project, "keys", "revoke", "customer-app")
    after = grants.read_text()
    assert "  # the app, owned by team A\n  customer-app:\n" in after
    assert after.index("customer-app:") < after.index("merchant-portal:") < after.index("# the end")
    assert after.startswith("# Who may call the aftersales service")


def test_no_grants_file(project: Path) -> None:
    code, _, err = run(project, "keys", "list")
    assert code == 0 and "no grants file at grants.yaml: every caller is refused" in err
    code, out, _ = run(project, "grants", "validate")
    assert code == 1 and out.startswith("grants.yaml:1:1: no grants file")
    code, _, err = run(project, "keys", "revoke", "app")
    assert code == 1 and "nothing to revoke" in err


def test_grants_validate_prints_each_problem_at_its_place() -> None:
    code, out, _ = run(ROOT, "grants", "validate", "tests/grants/04-unknown-role.yaml")
    assert code == 1
    assert out.splitlines() == [
        "tests/grants/04-unknown-role.yaml:3:13: unknown role 'merchnt'; did you mean 'merchant'? "
        "(roles: agent, customer, mediator, merchant, supervisor, system)",
        "tests/grants/04-unknown-role.yaml:3:22: unknown role 'platform' "
        "(roles: agent, customer, mediator, merchant, supervisor, system)",
    ]
    code, out, err = run(ROOT, "grants", "validate", "tests/grants/valid.yaml")
    assert code == 0 and out == ""
    assert "ok: tests/grants/valid.yaml: 3 principal(s), 2 active; case types checked against the policies" in err


def test_a_broken_grants_file_is_not_edited(project: Path) -> None:
    (project / "grants.yaml").write_text("principals:\n  app:\n    roles: [custmer]\n")
    code, out, err = run(project, "keys", "new", "other", "--roles", "customer")
    assert code == 2
    assert "grants.yaml:3:13: unknown role 'custmer'; did you mean 'customer'?" in out
    assert "grants.yaml has problems; fix them first" in err
    assert not (project / ".aftersales").exists()
    assert (project / "grants.yaml").read_text() == "principals:\n  app:\n    roles: [custmer]\n"
