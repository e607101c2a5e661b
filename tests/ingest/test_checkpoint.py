from __future__ import annotations

from alertmodel.engine import make_engine
from ingest.checkpoint import FilePosition, load_position, save_positions


def test_a_saved_position_is_loaded_back_and_a_later_one_replaces_it(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.begin() as conn:
            assert load_position(conn, "file:/var/log/eve.json") is None
            save_positions(conn, [FilePosition("file:/var/log/eve.json", 64768, 2**40, 123)])
        with engine.begin() as conn:
            save_positions(conn, [FilePosition("file:/var/log/eve.json", 64768, 7, 5)])
        with engine.connect() as conn:
            assert load_position(conn, "file:/var/log/eve.json") == FilePosition(
                "file:/var/log/eve.json", 64768, 7, 5
            )
    finally:
        engine.dispose()
