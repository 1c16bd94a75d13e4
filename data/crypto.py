"""Secrets at rest: CRM tokens and client secrets are stored as Fernet ciphertext, never in the clear.

The key comes from ``CRM_SECRET_KEY`` (environment or ``st.secrets``; callers pass it in). It may hold
several comma-separated keys: the first encrypts, all decrypt, so a key can be rotated without losing
saved connections. On the embedded default with no key configured, one is generated once into a
git-ignored file created 0600, so a first run needs no setup and the key never lands in git.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from data.db import DATA_DIR

log = logging.getLogger("data.crypto")

SECRET_KEY_FILE = DATA_DIR / "secret.key"  # git-ignored (data/*.key)
COOKIE_KEY_FILE = DATA_DIR / "cookie.key"  # signs streamlit-authenticator's re-login cookie
KEY_FILE_MODE = 0o600


class CryptoError(Exception):
    """Base class: something is wrong with the secret key or a ciphertext."""


class SecretKeyError(CryptoError):
    """The configured key is missing or malformed (the message never contains the key)."""


class DecryptionError(CryptoError):
    """A ciphertext does not open with any configured key: the key changed, or the data is damaged."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def read_or_create_key_file(path: Path, *, factory: Callable[[], str] = generate_key) -> str:
    """The key stored in ``path``, generated there on first use.

    The file is written to a private temporary name opened with mode 0600 (never world-readable, not
    even for an instant) and then hard-linked into place, which fails if another process won the race;
    the loser then reads the winner's key, so every process ends up with the same one.
    """
    if path.exists():
        return _read_key_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(factory() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return _read_key_file(path)


def _read_key_file(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); restricting it to 0600", path, mode)
        path.chmod(KEY_FILE_MODE)
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise SecretKeyError(f"{path} is empty: delete it to generate a new key, or set CRM_SECRET_KEY")
    return value


def load_key(explicit: str | None, key_file: Path = SECRET_KEY_FILE, *, generate: bool = True) -> str:
    """The secret key(s): ``explicit`` (from env or ``st.secrets``) wins; else the key file.

    Callers on PostgreSQL pass ``generate=False``: several app instances share that database, and a key
    generated into one instance's local file would leave the others unable to read the secrets.
    """
    if explicit and explicit.strip():
        value = explicit.strip()
    elif generate or key_file.exists():
        value = read_or_create_key_file(key_file)
    else:
        raise SecretKeyError("CRM_SECRET_KEY is not set; it is required with a shared database")
    _build(value)  # validate now, with a clear error, rather than at the first encrypt
    return value


def load_cookie_key(explicit: str | None, key_file: Path = COOKIE_KEY_FILE, *, generate: bool = True) -> str:
    """The key signing the login cookie: same rules as :func:`load_key`, any random string will do."""
    if explicit and explicit.strip():
        return explicit.strip()
    if not generate and not key_file.exists():
        raise SecretKeyError("The login cookie key is not set; it is required with a shared database")
    return read_or_create_key_file(key_file, factory=lambda: secrets.token_urlsafe(32))


def _build(keys: str) -> MultiFernet:
    parts = [part.strip() for part in keys.split(",") if part.strip()]
    if not parts:
        raise SecretKeyError("The secret key is empty")
    fernets = []
    for position, part in enumerate(parts, start=1):
        try:
            fernets.append(Fernet(part.encode("ascii")))
        except (ValueError, UnicodeEncodeError) as exc:
            raise SecretKeyError(
                f"Secret key #{position} is not a valid Fernet key (32 url-safe base64-encoded bytes)"
            ) from exc
    return MultiFernet(fernets)


class SecretBox:
    """Encrypts with the first key, decrypts with any: hand it ``load_key(...)``'s result."""

    def __init__(self, keys: str) -> None:
        self._fernet = _build(keys)

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def encrypt_text(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt_text(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            # ``from None``: InvalidToken's traceback says nothing useful and would only add noise.
            raise DecryptionError(
                "A stored secret cannot be decrypted with the configured CRM_SECRET_KEY: the key changed "
                "or the data is damaged. Restore the old key (list it after the new one) or reconnect."
            ) from None

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt_text(json.dumps(value, separators=(",", ":"), sort_keys=True))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        value = json.loads(self.decrypt_text(token))
        if not isinstance(value, dict):
            raise DecryptionError("A stored secret is not a JSON object")
        return value

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the first (newest) key, after a key rotation."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise DecryptionError("A stored secret cannot be decrypted with any configured key") from None
