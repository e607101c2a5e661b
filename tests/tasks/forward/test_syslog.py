"""Syslog forwarding (RFC 5424, octet-counting) to a real rsyslogd on loopback, over TCP and TLS."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine

from blocks.forwarders import SyslogForwarder
from tasks.forward.common import Outgoing
from tasks.forward.loop import ForwardLoop
from tasks.forward.syslog import syslog_message
from tests.alertfactory import make_alert
from tests.forward_receivers import free_port, wait_until
from tests.tasks.forward.conftest import add_alerts
from tests.tls_files import self_signed

# Each received message as: structured data TAB app-name TAB severity TAB msg
TEMPLATE = 'template(name="fields" type="string" string="%structured-data%\\t%app-name%\\t%syslogseverity%\\t%msg%\\n")'


@dataclass
class Rsyslog:
    """An rsyslogd of the test's own (own config, pid file and work dir) writing what it receives to a file."""

    port: int
    output: Path
    certfile: Path | None

    def records(self) -> list[tuple[str, str, str, dict]]:
        if not self.output.exists():
            return []
        lines = self.output.read_text().splitlines()
        return [
            (sd, app, sev, orjson.loads(msg)) for sd, app, sev, msg in (line.split("\t", 3) for line in lines)
        ]


def _start_rsyslog(directory: Path, tls: bool) -> tuple[subprocess.Popen[bytes], Rsyslog]:
    port = free_port()
    output = directory / "received.log"
    work = directory / "work"
    work.mkdir()
    certfile = None
    lines = [f'global(workDirectory="{work}" maxMessageSize="256k")']
    if tls:
        certfile, keyfile = self_signed(directory)
        lines.append(
            f'global(DefaultNetstreamDriverCAFile="{certfile}" DefaultNetstreamDriverCertFile="{certfile}" '
            f'DefaultNetstreamDriverKeyFile="{keyfile}")'
        )
        lines.append(
            'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")'
        )
    else:
        lines.append('module(load="imtcp")')
    lines += [
        f'input(type="imtcp" port="{port}" address="127.0.0.1")',
        TEMPLATE,
        f'action(type="omfile" file="{output}" template="fields" flushOnTXEnd="on" asyncWriting="off")',
    ]
    config = directory / "rsyslog.conf"
    config.write_text("\n".join(lines) + "\n")
    check = subprocess.run(["rsyslogd", "-N1", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr + check.stdout
    process = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(config), "-i", str(directory / "rsyslogd.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            import socket

            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(
                    f"rsyslogd did not listen: {process.communicate()[0].decode()[-2000:]}"
                ) from None
            time.sleep(0.1)
    return process, Rsyslog(port, output, certfile)


@pytest.fixture(params=["tcp", "tls"])
def rsyslog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rsyslog]:
    process, receiver = _start_rsyslog(tmp_path, request.param == "tls")
    yield receiver
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)


def test_rsyslog_receives_every_alert_as_rfc5424_with_its_keys_as_structured_data(
    store: Engine, rsyslog: Rsyslog
) -> None:
    rows = add_alerts(store, 20, severity=3, event='2019"]\\x', description="ünïcode ✓ <b>")
    block = SyslogForwarder(
        host="127.0.0.1",
        port=rsyslog.port,
        backfill=True,
        batch_size=5,  # four batches over one connection
        app_name="alertflow-test",
        tls=rsyslog.certfile is not None,
        ca_file=str(rsyslog.certfile) if rsyslog.certfile else None,
    )
    loop = ForwardLoop(store, "rsyslog", block)
    loop.drain()
    wait_until(lambda: len(rsyslog.records()) == 20, what="rsyslog wrote 20 records")
    records = rsyslog.records()
    assert {r[3]["alert_uuid"] for r in records} == {r["alert_uuid"] for r in rows}
    structured, app, severity, document = records[0]
    assert app == "alertflow-test" and severity == "2"  # Critical → syslog critical
    assert document["description"] == "ünïcode ✓ <b>" and orjson.loads(document["json_event"]) == {
        "event_type": "alert"
    }
    match = re.fullmatch(
        r'\[alertflow@32473 alert_uuid="([^"]+)" source="Suricata" severity="3" event="(.*)"\]', structured
    )
    assert match is not None, structured
    assert match.group(2) == '2019\\"\\]\\\\x'  # RFC 5424 escapes as rsyslog keeps them


def test_a_syslog_message_has_the_rfc5424_header_and_the_document_as_utf8_json() -> None:
    row = make_alert(description="ü")
    message = syslog_message(Outgoing(row, {"description": "ü"}), 4, "host", "app")
    assert message.startswith(b"<35>1 2026-11-23T12:00:00.000000Z host app - alert [alertflow@32473 ")
    assert message.endswith(b'] {"description":"\xc3\xbc"}')  # facility 4 * 8 + Major → error (3)
