"""The app's shared objects: settings, the database and the secret box, built once per process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from crm.redact import install_log_redaction
from data.crypto import COOKIE_KEY_FILE, SECRET_KEY_FILE, SecretBox, load_cookie_key, load_key
from data.db import Database
from service.settings import Settings

log = logging.getLogger("service")


@dataclass
class AppContext:
    settings: Settings
    db: Database
    box: SecretBox
    cookie_key: str

    @classmethod
    def build(
        cls,
        settings: Settings | None = None,
        *,
        migrate: bool = True,
        load_demo: bool = True,
        key_dir: Path | None = None,
    ) -> AppContext:
        """Open the database (migrating it), load the demo campaigns once, and the keys.

        On the embedded SQLite default the keys are generated once into 0600 files under ``data/``; on a
        shared PostgreSQL database they must come from settings, or app instances could not read each
        other's secrets.
        """
        install_log_redaction()
        settings = settings or Settings.load()
        db = Database(settings.database_url)
        generate = db.is_sqlite
        secret_file = (key_dir / SECRET_KEY_FILE.name) if key_dir else SECRET_KEY_FILE
        cookie_file = (key_dir / COOKIE_KEY_FILE.name) if key_dir else COOKIE_KEY_FILE
        # Keys first: a missing key is a configuration error that must not leave a half-set-up database.
        box = SecretBox(load_key(settings.secret_key, secret_file, generate=generate))
        cookie_key = load_cookie_key(settings.cookie_key, cookie_file, generate=generate)
        if migrate:
            db.upgrade()
        context = cls(settings=settings, db=db, box=box, cookie_key=cookie_key)
        if load_demo:
            from data.demo import load_demo as load_demo_campaigns

            with db.begin() as session:
                loaded = load_demo_campaigns(session)
            if loaded:
                log.info("loaded %d demo campaigns", len(loaded))
        return context

    def close(self) -> None:
        self.db.dispose()
