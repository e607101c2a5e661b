"""The supervisor starts a crashed child again, with a growing delay, and says why."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from alertflow.up.settings import UpSettings
from alertflow.up.supervisor import Child, Stack
from alertmodel.settings import Settings


def test_a_crashed_child_is_started_again_with_a_growing_delay_and_the_reason_logged(tmp_path: Path) -> None:
    messages: list[str] = []
    stack = Stack(Settings(data_dir=tmp_path), UpSettings(), echo=messages.append)
    runs = tmp_path / "runs"
    crash = f"open({str(runs)!r}, 'a').write('x'); print('out of cheese'); raise SystemExit(3)"
    child = Child("flaky", [sys.executable, "-c", crash], dict(os.environ), tmp_path / "flaky.log")
    child.start()
    stack.children.append(child)
    deadline = time.monotonic() + 20
    while not runs.exists() or len(runs.read_text()) < 3:
        assert time.monotonic() < deadline, messages
        stack.restart_crashed_children()
        time.sleep(0.05)
    crashes = [m for m in messages if m.startswith("flaky exited with 3")]
    assert crashes[0].startswith("flaky exited with 3; starting it again in 1 s (crash 1 in a row)")
    assert crashes[1].startswith("flaky exited with 3; starting it again in 2 s (crash 2 in a row)")
    assert "out of cheese" in crashes[0]
    log = child.log_path.read_text()
    assert "alertflow up: flaky exited with 3; starting it again in 1 s (crash 1 in a row)" in log
    assert "starting flaky again" in "\n".join(messages)
    stack.stop()


def test_a_child_that_ran_a_while_before_crashing_starts_over_from_the_first_delay(tmp_path: Path) -> None:
    child = Child(
        "steady", [sys.executable, "-c", "raise SystemExit(1)"], dict(os.environ), tmp_path / "s.log"
    )
    child.start()
    child.process.wait(30)  # type: ignore[union-attr]
    child.crashes = 4
    child.started_at -= 3600
    assert child.crashed(1) == 1
    assert child.crashes == 1


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_the_demo_says_which_alerts_it_stored_and_which_were_already_stored(
    tmp_path: Path, tls: bool
) -> None:
    import subprocess

    import httpx

    from alertflow.up.prefect_server import free_port
    from alertmodel import migrate
    from tests.tls_files import self_signed

    store = f"sqlite:///{tmp_path / 'alertflow.db'}"
    migrate.upgrade(store)
    port, token = free_port(), "t" * 32
    up = UpSettings(ingest_port=port)
    if tls:  # up's own requests pin the endpoint's certificate
        up.tls_certfile, up.tls_keyfile = self_signed(tmp_path)
    stack = Stack(Settings(data_dir=tmp_path, database_url=store), up)
    stack.ingest_token = token
    source = ["--source", f"{'https' if tls else 'http'}://127.0.0.1:{port}"]
    if tls:
        source += ["--tls-certfile", str(up.tls_certfile), "--tls-keyfile", str(up.tls_keyfile)]
    worker = subprocess.Popen(
        [sys.executable, "-m", "alertflow", "ingest", "--no-dispatch", *source],
        env={**os.environ, "ALERTFLOW_DATABASE_URL": store, "ALERTFLOW_INGEST_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.post(stack.ingest_url, content=b"", timeout=2, verify=stack.ingest_verify())
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        first, again = stack.post_demo_events(), stack.post_demo_events()
    finally:
        worker.terminate()
        worker.wait(60)
    assert (
        first
        == "3 demo events posted: 3 alert(s) stored now, 0 already stored by an earlier --demo (never stored twice)"
    )
    assert (
        again
        == "3 demo events posted: 0 alert(s) stored now, 3 already stored by an earlier --demo (never stored twice)"
    )
