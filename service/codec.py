"""Payload encryption: what a case carries (phone numbers, addresses) is ciphertext in Temporal's history.

`EncryptionCodec` is a Temporal payload codec (the SDK applies it to every payload a client or worker
sends or receives: workflow inputs and results, updates, signals, queries, activities, memos). Each
payload is serialized whole (metadata and data) and encrypted with AES-256-GCM under a fresh 96-bit
nonce; the result says `encoding: binary/encrypted` and names its key in `encryption-key-id`, which
is also the associated data, so a payload cannot be passed off as another key's. Search attributes
are not payloads: they stay plain (docs/security.md, "Payload encryption").

A payload that is not encrypted (histories written before encryption, `tests/histories/`) passes
through decoding unchanged, so old cases keep replaying and reading.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from service.codec_keys import KeyRing, load_key_ring

if TYPE_CHECKING:
    from service.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12  # 96 bits, the size GCM is made for
PAYLOAD_MODES = ("encrypted", "plain")  # AFTERSALES_PAYLOADS

# The standard library's logging, not structlog: a command that has not configured logging (the
# command line) still gets this warning on stderr, never mixed into its output on stdout.
log = logging.getLogger("aftersales.codec")


class CodecError(ValueError):
    """A payload that cannot be decrypted, with the reason (the key id at fault, never the payload)."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers = {key.id: AESGCM(key.secret) for key in ring.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.ring.current.id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode("utf-8"))
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode("utf-8")}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written without encryption: an old history, or AFTERSALES_PAYLOADS=plain
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(
                f"a payload is encrypted with key '{key_id}', which is not in the codec key file "
                f"{self.ring.source} (keys: {', '.join(k.id for k in self.ring.keys)}): use the key file "
                "the workers use"
            )
        data = payload.data
        try:
            inner = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode("utf-8"))
            return Payload.FromString(inner)
        except (InvalidTag, ValueError, DecodeError):
            raise CodecError(
                f"a payload encrypted with key '{key_id}' does not decrypt with the key of that id in "
                f"{self.ring.source}: the key was changed, or the payload was altered"
            ) from None


def encrypting_converter(ring: KeyRing) -> DataConverter:
    """The project's converter (pydantic JSON) with the payloads encrypted under `ring`.

    Failures too: an activity's or workflow's failure message and stack trace may quote case data
    (an address in a refused payout, a phone number in a traceback's locals), so the failure
    converter moves them into the failure's encoded attributes, a payload the codec encrypts. The
    history then says "Encoded failure"; every client with the keys reads the real message back.
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring),
        # DefaultFailureConverter(encode_common_attributes=True), as the class the converter builds.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter_for(settings: Settings) -> DataConverter:
    """The data converter every client and worker of these settings uses.

    Raises CodecKeyError (a ValueError naming the file and the fix) when the key file cannot be used.
    """
    if settings.payloads == "plain":
        log.warning(
            "PAYLOADS ARE NOT ENCRYPTED: case data (phone numbers, addresses) is stored in clear in Temporal's "
            "history (AFTERSALES_PAYLOADS=plain); set AFTERSALES_PAYLOADS=encrypted"
        )
        return pydantic_data_converter
    return encrypting_converter(load_key_ring(Path(settings.codec_keys_path)))


def key_ids(payloads: Iterable[Payload]) -> set[str]:
    """The key ids that payloads are encrypted with (for tests and `codec keys`-style reports)."""
    return {p.metadata[KEY_ID_METADATA].decode() for p in payloads if p.metadata.get("encoding") == ENCODING}
