"""Payload encryption: what a payload looks like in the history, the key file, rotation, the opt-out."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

import worker
from service import Settings
from service.codec import ENCODING, KEY_ID_METADATA, CodecError, EncryptionCodec, data_converter_for
from service.codec_keys import CodecKeyError, add_key, ensure_key_ring, load_key_ring
from tests.conftest import POLICIES
from tests.principal import write_grants
from worker import run_worker

PHONE = "13800138000"
ADDRESS = "北京市朝阳区建国路88号"
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def case_payload() -> Payload:
    data = {"customer": {"phone": PHONE, "address": ADDRESS}}
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(data, ensure_ascii=False).encode())


def ring_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "codec-keys.json"
    add_key(path, NOW)
    return path


async def test_a_payload_is_ciphertext_naming_its_key_and_decrypts_to_the_original(tmp_path: Path) -> None:
    codec = EncryptionCodec(load_key_ring(ring_file(tmp_path)))
    original = case_payload()
    first, second = await codec.encode([original, original])
    for sealed in (first, second):
        assert sealed.metadata["encoding"] == ENCODING
        assert sealed.metadata[KEY_ID_METADATA].decode() == codec.ring.current.id
        assert PHONE.encode() not in sealed.SerializeToString()
        assert ADDRESS.encode() not in sealed.SerializeToString()
    assert first.data != second.data  # a fresh nonce per payload
    assert await codec.decode([first, second]) == [original, original]


async def test_a_plain_payload_from_an_older_history_passes_through(tmp_path: Path) -> None:
    codec = EncryptionCodec(load_key_ring(ring_file(tmp_path)))
    assert await codec.decode([case_payload()]) == [case_payload()]


async def test_a_payload_of_an_unknown_key_or_altered_is_refused_with_the_key_id(tmp_path: Path) -> None:
    other = EncryptionCodec(load_key_ring(ring_file(tmp_path / "other")))
    codec = EncryptionCodec(load_key_ring(ring_file(tmp_path)))
    (foreign,) = await other.encode([case_payload()])
    with pytest.raises(CodecError, match=f"encrypted with key '{other.ring.current.id}', which is not in"):
        await codec.decode([foreign])
    (sealed,) = await codec.encode([case_payload()])
    altered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(CodecError, match=r"does not decrypt .* or the payload was altered"):
        await codec.decode([altered])


async def test_after_a_new_key_old_payloads_still_decrypt_and_new_ones_use_it(tmp_path: Path) -> None:
    path = ring_file(tmp_path)
    before = EncryptionCodec(load_key_ring(path))
    (old,) = await before.encode([case_payload()])
    made = add_key(path, NOW + dt.timedelta(days=90))
    after = EncryptionCodec(load_key_ring(path))
    assert after.ring.current == made and [k.id for k in after.ring.keys] == [made.id, before.ring.current.id]
    (new,) = await after.encode([case_payload()])
    assert new.metadata[KEY_ID_METADATA].decode() == made.id
    assert await after.decode([old, new]) == [case_payload(), case_payload()]


def test_the_key_file_is_owner_only_and_never_shows_a_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "codec-keys.json"
    made = ensure_key_ring(path, NOW)
    assert made is not None and ensure_key_ring(path, NOW) is None  # made once
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert made.secret.hex() not in repr(made)


def test_a_key_file_others_may_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = ring_file(tmp_path)
    os.chmod(path, 0o644)
    with pytest.raises(CodecKeyError, match=r"group or others may read .* \(mode 0644\); run `chmod 600"):
        load_key_ring(path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"keys": [', r"codec-keys.json:1:11: not valid JSON"),
        ('{"keys": []}', r'expected \{"keys": \[...\]\} listing at least one key'),
        (
            '{"keys": [{"id": "k1", "created": "2026-12-01T08:00:00+00:00", "key": "c2VjcmV0LXZhbHVl"}]}',
            r"keys\[0\] \('k1'\): `key` must be 32 random bytes in base64",
        ),
        ('{"keys": [{"id": "k 1", "created": "x", "key": "y"}]}', r"keys\[0\]: `id` must be 1 to 64 letters"),
        (
            '{"keys": [{"id": "k1", "created": "2026-12-01", "key": "y"}]}',
            r"keys\[0\] \('k1'\): `created` must be a time with its offset",
        ),
    ],
)
def test_a_malformed_key_file_is_refused_with_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "codec-keys.json"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    with pytest.raises(CodecKeyError, match=reason) as refused:
        load_key_ring(path)
    assert "c2VjcmV0LXZhbHVl" not in str(refused.value)  # a secret, even a wrong one, is not repeated


def test_a_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(CodecKeyError, match=r"no codec key file .* `aftersales codec new-key`"):
        load_key_ring(tmp_path / "none.json")


def test_payloads_are_encrypted_by_default_and_plain_only_when_asked_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env({"AFTERSALES_HOME": str(tmp_path)})
    assert settings.payloads == "encrypted"
    assert settings.codec_keys_path == str(tmp_path / ".aftersales/keys/codec-keys.json")
    with pytest.raises(CodecKeyError, match="no codec key file"):
        data_converter_for(settings)
    ensure_key_ring(Path(settings.codec_keys_path), NOW)
    assert isinstance(data_converter_for(settings).payload_codec, EncryptionCodec)
    plain = Settings.from_env({"AFTERSALES_HOME": str(tmp_path), "AFTERSALES_PAYLOADS": "plain"})
    with caplog.at_level(logging.WARNING, logger="aftersales.codec"):
        assert data_converter_for(plain) is pydantic_data_converter
    assert "PAYLOADS ARE NOT ENCRYPTED" in caplog.text
    with pytest.raises(ValueError, match="AFTERSALES_PAYLOADS must be encrypted or plain"):
        Settings.from_env({"AFTERSALES_PAYLOADS": "off"})


async def test_a_worker_without_a_usable_key_file_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "configure_logging", lambda _format: None)  # keep the session's logging
    settings = Settings(
        policy_dir=str(POLICIES),
        grants_path=str(write_grants(tmp_path / "grants.yaml")),
        log_format="console",
        home=str(tmp_path),
        codec_keys_path=str(tmp_path / "codec-keys.json"),
    )
    assert await run_worker(settings) == 1
    said = capsys.readouterr().err
    assert "refusing to start" in said and "no codec key file" in said and "aftersales codec new-key" in said
