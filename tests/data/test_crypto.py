"""Secrets at rest: the key file, encryption and rotation. (Masking for display: tests/crm/test_redact.py.)"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from data.crypto import (
    DecryptionError,
    SecretBox,
    SecretKeyError,
    load_cookie_key,
    load_key,
    read_or_create_key_file,
)

TOKEN = {"access_token": "pat-na1-11111111-2222-3333-4444-555555555555", "refresh_token": "r-secret"}


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 0: a file created without an explicit mode would come out world-readable."""
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_is_created_0600_and_reused(tmp_path: Path, permissive_umask: None) -> None:
    key_file = tmp_path / "nested" / "secret.key"
    first = load_key(None, key_file)
    assert _mode(key_file) == 0o600
    assert load_key(None, key_file) == first
    assert load_key("", key_file) == first  # an empty setting means "not set"
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]  # no temp file left behind
    SecretBox(first)  # a valid Fernet key


def test_explicit_key_wins_and_writes_no_file(tmp_path: Path) -> None:
    explicit = Fernet.generate_key().decode()
    assert load_key(f" {explicit} ", tmp_path / "secret.key") == explicit
    assert not (tmp_path / "secret.key").exists()


def test_shared_database_requires_an_explicit_key(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="CRM_SECRET_KEY"):
        load_key(None, tmp_path / "secret.key", generate=False)
    assert not (tmp_path / "secret.key").exists()


def test_malformed_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError) as raised:
        load_key("not-a-fernet-key-but-a-secret", tmp_path / "k")
    assert "not-a-fernet-key-but-a-secret" not in str(raised.value)


def test_loose_key_file_is_tightened(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text(Fernet.generate_key().decode())
    key_file.chmod(0o644)
    load_key(None, key_file)
    assert _mode(key_file) == 0o600


def test_racing_processes_agree_on_one_key(tmp_path: Path) -> None:
    key_file, keys, barrier = tmp_path / "secret.key", [], threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        keys.append(read_or_create_key_file(key_file))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys) == 8


def test_cookie_key_is_its_own_generated_file(tmp_path: Path, permissive_umask: None) -> None:
    cookie = load_cookie_key(None, tmp_path / "cookie.key")
    assert len(cookie) >= 32
    assert load_cookie_key(None, tmp_path / "cookie.key") == cookie
    assert _mode(tmp_path / "cookie.key") == 0o600
    assert load_cookie_key("explicit", tmp_path / "other.key") == "explicit"
    with pytest.raises(SecretKeyError):
        load_cookie_key(None, tmp_path / "missing.key", generate=False)


def test_round_trip_and_ciphertext_hides_the_plain_text() -> None:
    box = SecretBox(Fernet.generate_key().decode())
    token = box.encrypt_json(TOKEN)
    assert box.decrypt_json(token) == TOKEN
    for value in TOKEN.values():
        assert value not in token
    assert box.encrypt_json(TOKEN) != token  # a fresh IV every time
    assert "<keys hidden>" in repr(box)


def test_wrong_key_raises_a_clear_typed_error() -> None:
    token = SecretBox(Fernet.generate_key().decode()).encrypt_json(TOKEN)
    with pytest.raises(DecryptionError, match="CRM_SECRET_KEY") as raised:
        SecretBox(Fernet.generate_key().decode()).decrypt_json(token)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    with pytest.raises(DecryptionError):
        SecretBox(Fernet.generate_key().decode()).decrypt_json("garbage-ü")


def test_rotation_keeps_old_secrets_readable() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = SecretBox(old).encrypt_json(TOKEN)
    rotated_box = SecretBox(f"{new}, {old}")
    assert rotated_box.decrypt_json(stored) == TOKEN
    fresh = rotated_box.encrypt_json(TOKEN)
    assert SecretBox(new).decrypt_json(fresh) == TOKEN  # the first key encrypts
    with pytest.raises(DecryptionError):
        SecretBox(old).decrypt_json(fresh)
    assert SecretBox(new).decrypt_json(rotated_box.rotate(stored)) == TOKEN
