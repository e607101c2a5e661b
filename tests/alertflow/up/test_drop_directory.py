"""The drop directory never loses or doubles a line, never reads what is not a regular file, and
no error in it stops `up`. The importer here is a small script that stores each distinct line
once (like the alert store does by alert_uuid), so the tests look at what the directory does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from alertflow.up.drop_directory import DropDirectory

# argv: the claimed file, the store; env IMPORT_DELAY_S, IMPORT_THEN: "delete" | "append"
IMPORTER = """
import os, sys, time
path, store = sys.argv[1], sys.argv[2]
seen = set(open(store).read().splitlines()) if os.path.exists(store) else set()
with open(path) as f:
    lines = f.read().splitlines()
time.sleep(float(os.environ.get("IMPORT_DELAY_S", "0")))
with open(store, "a") as out:
    for line in lines:
        if line not in seen:
            seen.add(line)
            out.write(line + "\\n")
then = os.environ.get("IMPORT_THEN")
if then == "delete":
    os.unlink(path)
elif then == "append" and "written-during-import" not in lines:  # once
    with open(path, "a") as f:
        f.write("written-during-import\\n")
"""


class Drop:
    def __init__(self, root: Path, quiet_s: float = 0.3, **env: str) -> None:
        self.root = root
        self.store = root / "store.txt"
        self.messages: list[str] = []
        self.dir = DropDirectory(
            root / "drop",
            root / "logs" / "drop.log",
            env=lambda: {**os.environ, **env},
            echo=self.messages.append,
            quiet_s=quiet_s,
            command=lambda path: [sys.executable, "-c", IMPORTER, str(path), str(self.store)],
        )
        self.dir.create()

    @property
    def path(self) -> Path:
        return self.dir.path

    def stored(self) -> list[str]:
        return self.store.read_text().splitlines() if self.store.exists() else []

    def files(self, where: str) -> list[str]:
        return sorted(p.name for p in (self.path / where).iterdir())

    def run_until(self, done: Callable[[], object], timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"timed out; messages: {self.messages}"
            self.dir.poll()
            time.sleep(0.05)

    def idle(self) -> bool:
        """Nothing claimed and nothing waiting to be."""
        waiting = [p for p in self.path.iterdir() if p.is_file() or p.is_symlink()]
        return self.dir.claim is None and not waiting


@pytest.fixture
def drop(tmp_path: Path) -> Drop:
    return Drop(tmp_path)


def test_a_symlink_is_never_followed_and_is_moved_to_failed(drop: Drop, tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:TOPSECRET:19000::::::\n")
    (drop.path / "shadow.log").symlink_to(secret)
    drop.run_until(lambda: drop.files("failed"))
    assert drop.stored() == []
    [failed] = drop.files("failed")
    assert failed.startswith("shadow.") and failed.endswith(".log")
    assert (drop.path / "failed" / failed).is_symlink()
    assert any("shadow.log refused: not a regular file (a symlink)" in m for m in drop.messages)
    assert secret.read_text().startswith("root:TOPSECRET")  # the target is untouched


def test_a_fifo_and_a_hard_link_are_refused_without_blocking(drop: Drop, tmp_path: Path) -> None:
    os.mkfifo(drop.path / "pipe.jsonl")
    elsewhere = tmp_path / "elsewhere.log"
    elsewhere.write_text("linked\n")
    os.link(elsewhere, drop.path / "linked.log")
    drop.run_until(lambda: len(drop.files("failed")) == 2)
    assert drop.stored() == []
    assert any("pipe.jsonl refused: not a regular file (a FIFO)" in m for m in drop.messages)
    assert any("linked.log refused: has 2 hard links" in m for m in drop.messages)


def test_a_file_deleted_during_its_import_is_reported_and_the_next_one_imported(tmp_path: Path) -> None:
    drop = Drop(tmp_path, IMPORT_THEN="delete")
    (drop.path / "a.jsonl").write_text("a1\n")
    drop.run_until(lambda: any("disappeared" in m for m in drop.messages))
    assert drop.dir.claim is None
    (drop.path / "b.jsonl").write_text("b1\n")
    drop.run_until(lambda: drop.stored() == ["a1", "b1"])


def test_an_error_in_the_directory_is_reported_once_and_the_directory_made_again(drop: Drop) -> None:
    for sub in ("done", "failed", ".importing"):
        (drop.path / sub).rmdir()
    drop.path.rmdir()
    for _ in range(5):
        drop.dir.poll()
    assert len([m for m in drop.messages if "FileNotFoundError" in m]) == 1
    assert (drop.path / ".importing").is_dir()
    (drop.path / "after.jsonl").write_text("after\n")
    drop.run_until(lambda: drop.stored() == ["after"])


def test_a_file_written_slowly_in_place_is_imported_whole_once_its_writer_closes_it(drop: Drop) -> None:
    # Pauses longer than the quiet period: only seeing the open writer keeps it from being taken.
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "with open(sys.argv[1], 'a') as f:\n"
            "    for i in range(4):\n"
            "        f.write(f'slow{i}\\n'); f.flush(); time.sleep(0.8)\n",
            str(drop.path / "slow.jsonl"),
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while writer.poll() is None:
            assert time.monotonic() < deadline, f"timed out; messages: {drop.messages}"
            drop.dir.poll()
            # only a poll that ran wholly while the writer was alive proves anything
            if writer.poll() is None:
                assert drop.stored() == [], "taken while its writer still had it open"
            time.sleep(0.05)
        drop.run_until(lambda: drop.files("done"))
    finally:
        writer.wait(30)
    assert drop.stored() == ["slow0", "slow1", "slow2", "slow3"]
    assert len(drop.files("done")) == 1


def test_lines_appended_after_the_import_are_imported_as_a_new_file(drop: Drop) -> None:
    target = drop.path / "events.jsonl"
    target.write_text("e1\ne2\n")
    drop.run_until(lambda: drop.files("done"))
    with target.open("a") as f:  # a `>>` writer that opens the name again
        f.write("e3\n")
    drop.run_until(lambda: len(drop.files("done")) == 2)
    assert drop.stored() == ["e1", "e2", "e3"]


def test_a_name_used_again_never_overwrites_the_earlier_file_in_done(drop: Drop) -> None:
    for content in ("first\n", "second\n", "third\n"):
        staging = drop.path / ".batch.tmp"
        staging.write_text(content)
        staging.rename(drop.path / "batch.jsonl")
        drop.run_until(drop.idle)
    done = drop.files("done")
    assert len(done) == 3 and all(n.startswith("batch.") and n.endswith(".jsonl") for n in done)
    assert sorted((drop.path / "done" / n).read_text() for n in done) == ["first\n", "second\n", "third\n"]
    assert drop.stored() == ["first", "second", "third"]


def test_a_file_that_grows_during_its_import_is_imported_again_without_doubling(tmp_path: Path) -> None:
    drop = Drop(tmp_path, IMPORT_THEN="append")
    (drop.path / "g.jsonl").write_text("g1\n")
    drop.run_until(lambda: drop.files("done"), 60)
    assert drop.stored() == ["g1", "written-during-import"]
    assert any("grew during its import; importing it again" in m for m in drop.messages)
    [done] = drop.files("done")
    assert (drop.path / "done" / done).read_text() == "g1\nwritten-during-import\n"


def test_a_file_left_claimed_by_a_stopped_up_is_imported_at_the_next_start(tmp_path: Path) -> None:
    first = Drop(tmp_path, IMPORT_DELAY_S="30")
    (first.path / "left.jsonl").write_text("l1\n")
    first.run_until(lambda: first.dir.claim is not None and first.dir.claim.process is not None)
    first.dir.stop()
    assert [p.name.endswith("-left.jsonl") for p in (first.path / ".importing").iterdir()] == [True]
    second = Drop(tmp_path)
    second.run_until(lambda: second.files("done"))
    assert second.stored() == ["l1"]
    assert any("left.jsonl was being imported when up stopped" in m for m in second.messages)
    assert list((second.path / ".importing").iterdir()) == []


def test_a_failed_import_goes_to_failed_with_a_pointer_to_the_log(tmp_path: Path) -> None:
    drop = Drop(tmp_path)
    drop.dir.command = lambda path: [sys.executable, "-c", "raise SystemExit(3)"]
    (drop.path / "bad.jsonl").write_text("x\n")
    drop.run_until(lambda: drop.files("failed"))
    assert any(f"bad.jsonl FAILED (exit 3), see {drop.dir.log_path}" in m for m in drop.messages)
    assert "bad.jsonl FAILED" in drop.dir.log_path.read_text()
