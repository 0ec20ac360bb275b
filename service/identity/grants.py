"""The grants file: which named callers (principals) exist, their public keys, the roles each may
assert and the case types each may open.

It is kept apart from the loop policies (`grants.yaml` in the project folder, not under
`policies/`): who may call is the platform's security decision, what a case does is the operators'.
It is checked like a policy file, every mistake as `FILE:LINE:COL: message`, and it denies by
default: a principal that is not in the file, disabled or past its `expires` has no grants.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from policy_engine.language.model import ROLES
from policy_engine.language.problems import PolicyError, Problem, unknown_name
from policy_engine.language.yamlsource import DocPath, SourceMap, load_yaml_text
from service.identity.keys import KeyProblem, fingerprint, parse_public_pem, public_pem

GRANTS_FILE = "grants.yaml"  # in the project folder (see service.settings.project_home)

# Principal names become file names (`.aftersales/keys/NAME.pem`) and log fields: keep them plain.
PRINCIPAL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_CASE_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

TOP_KEYS = ("principals",)
PRINCIPAL_KEYS = ("roles", "open_types", "keys", "expires", "disabled", "note")


class GrantsError(PolicyError):
    """A grants file that cannot be used; carries every problem (FILE:LINE:COL: message)."""


@dataclass(frozen=True)
class PublicKey:
    fingerprint: str  # `SHA256:...`, also the `kid` of the tokens this key signs
    pem: str
    key: Ed25519PublicKey = field(compare=False, repr=False)

    @classmethod
    def from_pem(cls, pem: str) -> PublicKey:
        key = parse_public_pem(pem)
        return cls(fingerprint(key), public_pem(key), key)


@dataclass(frozen=True)
class Principal:
    """A named caller (a backend service) and what it is granted."""

    name: str
    roles: frozenset[str]
    open_types: frozenset[str] = frozenset()
    keys: tuple[PublicKey, ...] = ()
    expires: dt.datetime | None = None
    disabled: bool = False
    note: str = ""

    def status(self, now: dt.datetime) -> str:
        """`active`, `disabled` or `expired` at `now`."""
        if self.disabled:
            return "disabled"
        if self.expires is not None and now >= self.expires:
            return "expired"
        return "active"

    def key(self, kid: str) -> PublicKey | None:
        return next((k for k in self.keys if k.fingerprint == kid), None)


@dataclass(frozen=True)
class Grants:
    """Every principal of one grants file; `digest` is the SHA-256 of the file's bytes."""

    principals: Mapping[str, Principal] = field(default_factory=dict)
    source: str = ""
    digest: str = ""

    def get(self, name: str) -> Principal | None:
        return self.principals.get(name)

    def __iter__(self) -> Iterator[Principal]:
        return iter(self.principals.values())

    def __len__(self) -> int:
        return len(self.principals)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (public keys as PEM), e.g. to hand the grants to a workflow as a payload."""
        return {
            "source": self.source,
            "digest": self.digest,
            "principals": {
                p.name: {
                    "roles": sorted(p.roles),
                    "open_types": sorted(p.open_types),
                    "keys": [k.pem for k in p.keys],
                    "expires": None if p.expires is None else p.expires.isoformat(),
                    "disabled": p.disabled,
                    "note": p.note,
                }
                for p in self.principals.values()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grants:
        """The inverse of `to_json` (its input is trusted: it came from a checked file)."""
        principals = {
            name: Principal(
                name=name,
                roles=frozenset(p["roles"]),
                open_types=frozenset(p.get("open_types", ())),
                keys=tuple(PublicKey.from_pem(pem) for pem in p["keys"]),
                expires=None if p.get("expires") is None else dt.datetime.fromisoformat(p["expires"]),
                disabled=bool(p.get("disabled", False)),
                note=str(p.get("note", "")),
            )
            for name, p in data.get("principals", {}).items()
        }
        return cls(principals, str(data.get("source", "")), str(data.get("digest", "")))


def grants_path(home: Path | str) -> Path:
    """The project's grants file."""
    return Path(home) / GRANTS_FILE


def load_grants(path: Path, *, case_types: Collection[str] | None = None, display: str | None = None) -> Grants:
    """Read and check a grants file; raise GrantsError with every problem found.

    `case_types`: the case types the policies define, when they are at hand (an `open_types` entry
    is then checked against them, with the likely typo named); else only their spelling is checked.
    """
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GrantsError(
            [Problem(name, 1, 1, "no grants file: every caller is refused until one grants something")]
        ) from None
    except OSError as exc:
        raise GrantsError([Problem(name, 1, 1, f"cannot read file: {exc.strerror or exc}")]) from None
    return parse_grants(raw, name, base_dir=path.parent, case_types=case_types)


def parse_grants(raw: bytes, file: str, *, base_dir: Path, case_types: Collection[str] | None = None) -> Grants:
    """Check the text of a grants file (`file` names it in problems; key paths are relative to `base_dir`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GrantsError([Problem(file, 1, 1, f"cannot read file: not UTF-8 text (byte {exc.start})")]) from None
    data, smap, problems = load_yaml_text(text, file)
    problems = [_principal_twice(p, smap) for p in problems]
    checker = _Checker(smap, problems, base_dir, case_types)
    principals = checker.check(data)
    if checker.problems:
        raise GrantsError(checker.problems)
    return Grants(principals, file, hashlib.sha256(raw).hexdigest())


def _principal_twice(problem: Problem, smap: SourceMap) -> Problem:
    """The YAML loader's `duplicate key 'x'`, said in this file's terms when x is a principal."""
    match = re.fullmatch(r"duplicate key '(.*)'( \(first at line \d+\))?", problem.message)
    if match is None:
        return problem
    first = smap.keys.get(("principals", match.group(1)))
    if first is None or first[2] != problem.col:
        return problem
    return Problem(
        problem.file, problem.line, problem.col, f"principal '{match.group(1)}' is listed twice{match.group(2) or ''}"
    )


@dataclass
class _Checker:
    smap: SourceMap
    problems: list[Problem]
    base_dir: Path
    case_types: Collection[str] | None
    key_owner: dict[str, str] = field(default_factory=dict)  # fingerprint -> principal

    def error(self, path: DocPath, message: str, *, at_key: bool = False) -> None:
        self.problems.append(self.smap.problem(path, message, at_key=at_key))

    def check(self, data: Any) -> dict[str, Principal]:
        if data is None:
            return {}  # an empty file (or comments only) grants nothing
        if not isinstance(data, dict):
            self.error((), "a grants file is a mapping: `principals:` and one entry per principal")
            return {}
        for key in data:
            if key not in TOP_KEYS:
                self.error((key,), unknown_name("key", key, TOP_KEYS), at_key=True)
        entries = data.get("principals")
        if entries is None:
            return {}
        if not isinstance(entries, dict):
            self.error(("principals",), "`principals` maps each principal's name to its grants")
            return {}
        out: dict[str, Principal] = {}
        for name, entry in entries.items():
            principal = self.principal(name, entry)
            if principal is not None:
                out[name] = principal
        return out

    def principal(self, name: str, entry: Any) -> Principal | None:
        path: DocPath = ("principals", name)
        ok = True
        if not PRINCIPAL_NAME.fullmatch(name):
            self.error(
                path,
                f"principal name '{name}': use lower-case letters, digits, '.', '_' and '-' (up to 63, "
                "starting with a letter or digit); it also names the principal's key file",
                at_key=True,
            )
            ok = False
        if not isinstance(entry, dict):
            self.error(path, f"principal '{name}' needs its grants: roles, keys and optionally open_types")
            return None
        for key in entry:
            if key not in PRINCIPAL_KEYS:
                self.error((*path, key), unknown_name("key", key, PRINCIPAL_KEYS), at_key=True)
                ok = False
        # `role:` for `roles:` is one mistake: said once, as the unknown key, not again as "no roles".
        typos = {m for k in entry if k not in PRINCIPAL_KEYS for m in difflib.get_close_matches(k, PRINCIPAL_KEYS, 1)}
        disabled = entry.get("disabled", False)
        if not isinstance(disabled, bool):
            self.error((*path, "disabled"), "`disabled` is true or false")
            ok = False
        roles = self.names(path, entry, "roles", "role", ROLES, required=True, quiet="roles" in typos)
        open_types = self.names(path, entry, "open_types", "case type", self.case_types, required=False)
        keys = self.keys(path, entry, required=disabled is not True, quiet="keys" in typos)
        expires = self.expires(path, entry)
        note = entry.get("note", "")
        if not isinstance(note, str):
            self.error((*path, "note"), "`note` is text")
            ok = False
        if not ok or roles is None or open_types is None or keys is None or isinstance(expires, bool):
            return None
        return Principal(name, roles, open_types, keys, expires, disabled is True, note)

    def names(
        self,
        path: DocPath,
        entry: dict[str, Any],
        key: str,
        kind: str,
        known: Collection[str] | None,
        *,
        required: bool,
        quiet: bool = False,
    ) -> frozenset[str] | None:
        example = "[merchant]" if key == "roles" else "[return, complaint]"
        if key not in entry:
            if not required:
                return frozenset()
            if not quiet:
                self.error(
                    path,
                    f"principal '{path[-1]}' has no `{key}`: list those it may assert, e.g. {key}: {example}",
                    at_key=True,
                )
            return None
        values = entry[key]
        if values is None and not required:
            return frozenset()
        if not isinstance(values, list):
            self.error((*path, key), f"`{key}` is a list, e.g. {key}: {example}")
            return None
        if required and not values:
            self.error((*path, key), f"`{key}` is empty: principal '{path[-1]}' could send nothing")
            return None
        out: set[str] = set()
        ok = True
        for i, value in enumerate(values):
            where = (*path, key, i)
            if not isinstance(value, str):
                self.error(where, f"a {kind} is a name, e.g. {'merchant' if key == 'roles' else 'return'}")
                ok = False
            elif known is not None and value not in known:
                listed = f" ({kind}s: {', '.join(sorted(known))})" if known else ""
                self.error(where, unknown_name(kind, value, known) + listed)
                ok = False
            elif known is None and not _CASE_TYPE.fullmatch(value):
                self.error(where, f"'{value}' is not a {kind} name (lower-case letters, digits and '_')")
                ok = False
            elif value in out:
                self.error(where, f"{kind} '{value}' is listed twice")
                ok = False
            else:
                out.add(value)
        return frozenset(out) if ok else None

    def keys(
        self, path: DocPath, entry: dict[str, Any], *, required: bool, quiet: bool = False
    ) -> tuple[PublicKey, ...] | None:
        name = str(path[-1])
        if "keys" not in entry or entry["keys"] in (None, []):
            if not required:
                return ()
            if quiet:
                return None
            self.error(
                path if "keys" not in entry else (*path, "keys"),
                f"principal '{name}' has no `keys`: give its Ed25519 public key (inline PEM or a file), "
                f"e.g. with `aftersales keys new {name} --roles ...`",
                at_key="keys" not in entry,
            )
            return None
        items = entry["keys"]
        if not isinstance(items, list):
            self.error((*path, "keys"), "`keys` is a list of public keys: inline PEM blocks (`- |`) or file paths")
            return None
        out: list[PublicKey] = []
        ok = True
        for i, item in enumerate(items):
            where = (*path, "keys", i)
            key = self.key(where, item)
            if key is None:
                ok = False
                continue
            owner = self.key_owner.get(key.fingerprint)
            if owner == name:
                self.error(where, f"this key ({key.fingerprint}) is listed twice")
                ok = False
            elif owner is not None:
                self.error(
                    where,
                    f"this key ({key.fingerprint}) is also principal '{owner}''s: each principal needs a key of its own",
                )
                ok = False
            else:
                self.key_owner[key.fingerprint] = name
                out.append(key)
        return tuple(out) if ok else None

    def key(self, where: DocPath, item: Any) -> PublicKey | None:
        if not isinstance(item, str) or not item.strip():
            self.error(where, "a key is an inline PEM block (`- |` then the PEM lines) or the path of a .pem file")
            return None
        text, label = item, ""
        if "-----BEGIN" not in item:
            path = Path(item.strip())
            path = path if path.is_absolute() else self.base_dir / path
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
                self.error(where, f"cannot read the key file {item.strip()}: {reason}")
                return None
            label = f"{item.strip()}: "
        try:
            return PublicKey.from_pem(text)
        except KeyProblem as exc:
            self.error(where, f"{label}{exc}")
            return None

    def expires(self, path: DocPath, entry: dict[str, Any]) -> dt.datetime | bool | None:
        """The expiry, None when there is none, False when it is wrong (reported)."""
        value = entry.get("expires")
        if value is None:
            return None
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value
        self.error(
            (*path, "expires"),
            "`expires` is a time with its offset, e.g. 2027-01-01T00:00:00+08:00",
        )
        return False
