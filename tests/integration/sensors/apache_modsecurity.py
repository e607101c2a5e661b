"""A private Apache 2.4 + ModSecurity 2.9 + OWASP CRS 3.3 instance on a loopback port.

It has its own ServerRoot (a temporary directory), pid file, logs and JSON audit log; the
system's Apache service is never touched. Started and stopped with `apache2 -f CONF -k`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from alertflow.local_prefect import free_port
from tests.integration.sensors.kit import required_tool

MODULES = Path("/usr/lib/apache2/modules")
MODSECURITY_RECOMMENDED = Path("/etc/modsecurity/modsecurity.conf-recommended")
UNICODE_MAPPING = Path("/etc/modsecurity/unicode.mapping")
CRS_SETUP = Path("/etc/modsecurity/crs/crs-setup.conf")
CRS_RULES = Path("/usr/share/modsecurity-crs/rules")
AUDIT_SETTINGS = {
    "SecRuleEngine": "On",
    "SecAuditEngine": "RelevantOnly",
    "SecAuditLogType": "Serial",
    "SecAuditLogFormat": "JSON",
    "SecAuditLogParts": "ABHZ",
}


@dataclass
class Apache:
    """A running instance: where it listens and where its audit log is."""

    port: int
    root: Path

    @property
    def audit_log(self) -> Path:
        return self.root / "logs" / "audit.json"

    @property
    def error_log(self) -> Path:
        return self.root / "logs" / "error.log"


def _modsecurity_conf(root: Path) -> str:
    """Debian's recommended ModSecurity settings with the rule engine on and a JSON audit log here."""
    lines = []
    for line in MODSECURITY_RECOMMENDED.read_text().splitlines():
        directive = line.split(maxsplit=1)[0] if line.strip() else ""
        if directive in AUDIT_SETTINGS or directive in {"SecAuditLog", "SecTmpDir", "SecDataDir"}:
            continue
        lines.append(line)
    lines += [f"{k} {v}" for k, v in AUDIT_SETTINGS.items()]
    lines += [
        f"SecAuditLog {root / 'logs' / 'audit.json'}",
        f"SecTmpDir {root / 'tmp'}",
        f"SecDataDir {root / 'tmp'}",
    ]
    return "\n".join(lines) + "\n"


def _httpd_conf(root: Path, port: int) -> str:
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    return f"""\
ServerRoot {root}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {root / "run" / "httpd.pid"}
DefaultRuntimeDir {root / "run"}
ErrorLog {root / "logs" / "error.log"}
LogLevel warn
{user}LoadModule mpm_event_module {MODULES / "mod_mpm_event.so"}
LoadModule authz_core_module {MODULES / "mod_authz_core.so"}
LoadModule unique_id_module {MODULES / "mod_unique_id.so"}
LoadModule security2_module {MODULES / "mod_security2.so"}
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
DocumentRoot {root / "htdocs"}
<Directory {root / "htdocs"}>
    Require all granted
</Directory>
Include {root / "conf" / "modsecurity.conf"}
Include {CRS_SETUP}
Include {CRS_RULES}/*.conf
"""


def start_apache() -> Apache:
    """Write the instance's files and start it; fails loudly if Apache or ModSecurity is missing."""
    apache2 = required_tool("apache2", "/usr/sbin/apache2")
    for needed in (
        MODULES / "mod_security2.so",
        MODSECURITY_RECOMMENDED,
        UNICODE_MAPPING,
        CRS_SETUP,
        CRS_RULES,
    ):
        if not needed.exists():
            raise AssertionError(f"{needed} missing; run `bash scripts/services.sh up`")
    # Its own directory under /tmp, readable by the unprivileged worker (pytest's tmp_path is not).
    root = Path(tempfile.mkdtemp(prefix="alertflow-apache-"))
    root.chmod(0o755)
    for sub in ("conf", "logs", "run", "htdocs", "tmp"):
        (root / sub).mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "htdocs" / "index.html").write_text("<html><body>shop</body></html>\n")
    shutil.copy(UNICODE_MAPPING, root / "conf" / "unicode.mapping")
    (root / "conf" / "modsecurity.conf").write_text(_modsecurity_conf(root))
    port = free_port()
    conf = root / "conf" / "httpd.conf"
    conf.write_text(_httpd_conf(root, port))
    started = subprocess.run(
        [apache2, "-f", str(conf), "-k", "start"], capture_output=True, text=True, timeout=60
    )
    errors = (root / "logs" / "error.log").read_text() if (root / "logs" / "error.log").exists() else ""
    assert started.returncode == 0, started.stdout + started.stderr + errors
    apache = Apache(port=port, root=root)
    deadline = time.monotonic() + 30
    while not _answers(port):
        if time.monotonic() > deadline:
            raise AssertionError(f"Apache did not listen on 127.0.0.1:{port}: {apache.error_log.read_text()}")
        time.sleep(0.05)
    return apache


def stop_apache(apache: Apache) -> None:
    """Stop the instance and wait for it to exit (its audit log is complete afterwards)."""
    pid_file = apache.root / "run" / "httpd.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().strip())
        if not _alive(pid):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def remove_apache(apache: Apache) -> None:
    """Stop the instance if it still runs and delete its directory."""
    stop_apache(apache)
    shutil.rmtree(apache.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def send(port: int, request: bytes) -> tuple[int, int]:
    """Send raw request bytes over loopback; (HTTP status Apache answered, the client's port)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        client_port = conn.getsockname()[1]
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    assert match, f"no HTTP status line in {answer[:200]!r}"
    return int(match.group(1)), client_port
