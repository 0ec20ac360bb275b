"""Ed25519 key pairs for principals: make them, name them by fingerprint, keep the private half private.

A private key is written once, to a file only its owner can read (0600) in a folder only its owner
can enter (0700), and is refused when read back from a file that others could read (as ssh does):
a key that others could read must be taken as leaked.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEYS_DIR = ".aftersales/keys"  # in the project folder: where `aftersales keys new` writes private keys
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


class KeyProblem(Exception):
    """A key that cannot be used, with the reason in the user's terms."""


def new_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), the form the grants file holds."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def private_pem(key: Ed25519PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM (the file's mode protects it; a secret store, in transit)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """`SHA256:` and the base64url SHA-256 of the raw 32-byte public key: the key's name in lists and
    the `kid` header of the tokens it signs."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).rstrip(b"=").decode("ascii")


def parse_public_pem(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; raises KeyProblem saying what the text is instead."""
    if "PRIVATE KEY" in text:
        raise KeyProblem(
            "this is a private key: the grants file holds public keys only (and this private key must now "
            "be taken as leaked: make a new one with `aftersales keys new`)"
        )
    try:
        key = serialization.load_pem_public_key(text.encode("utf-8"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyProblem(
            "not a PEM public key (expected '-----BEGIN PUBLIC KEY-----' ... '-----END PUBLIC KEY-----')"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        kind = type(key).__name__.removeprefix("_").replace("PublicKey", "") or "another"
        raise KeyProblem(f"an {kind} key, not an Ed25519 public key (make one with `aftersales keys new`)")
    return key


def parse_private_pem(data: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyProblem("the private key is encrypted; give it unencrypted (protect the file instead)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyProblem("not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem("not an Ed25519 private key")
    return key


def load_private_key(path: Path, *, check_mode: bool = True) -> Ed25519PrivateKey:
    """A principal's private key from its file; refused when group or others may read or write it."""
    try:
        st = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise KeyProblem(f"{path}: cannot read the private key: {exc.strerror or exc}") from None
    if check_mode and os.name == "posix" and st.st_mode & 0o077:
        raise KeyProblem(
            f"{path}: others may read this private key (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run `chmod 600 {path}`, and make a new key if anyone else may have read it"
        )
    try:
        return parse_private_pem(data)
    except KeyProblem as exc:
        raise KeyProblem(f"{path}: {exc}") from None


def private_dir(folder: Path) -> Path:
    """Create `folder` (and its parents) if needed and make it owner-only (0700)."""
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(folder, PRIVATE_DIR_MODE)
    return folder


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write a new private key file, owner-only (0600) from its first byte; never overwrite one."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask
        os.write(fd, private_pem(key))
        os.fsync(fd)
    finally:
        os.close(fd)
