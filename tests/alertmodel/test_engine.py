"""The SQLite file of the alert store is created private whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from alertmodel.engine import make_engine


def test_the_sqlite_file_and_its_directory_are_private_under_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'alertflow.db'}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in (tmp_path / "new").iterdir()}
        engine.dispose()
    finally:
        os.umask(old)
    assert set(modes) >= {"alertflow.db", "alertflow.db-wal"}
    assert modes == dict.fromkeys(modes, 0o600)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
