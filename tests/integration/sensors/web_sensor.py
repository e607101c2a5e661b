"""Private web servers with ModSecurity and the OWASP CRS on loopback ports, for live tests.

Each instance lives in its own directory under /tmp (config, pid file, logs, JSON audit log);
the system's Apache and nginx services are never touched. Apache runs ModSecurity 2.9
(`libapache2-mod-security2`), nginx runs ModSecurity 3 (`libnginx-mod-http-modsecurity`); both
load the CRS 3.3 of `modsecurity-crs`.
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

from alertflow.up.prefect_server import free_port
from tests.integration.sensors.kit import required_tool

CRS_SETUP = Path("/etc/modsecurity/crs/crs-setup.conf")
CRS_RULES = Path("/usr/share/modsecurity-crs/rules")
AUDIT_SETTINGS = {
    "SecRuleEngine": "On",
    "SecAuditEngine": "RelevantOnly",
    "SecAuditLogType": "Serial",
    "SecAuditLogFormat": "JSON",
    "SecAuditLogParts": "ABHZ",
}
INDEX_HTML = "<html><body>shop</body></html>\n"


@dataclass
class WebSensor:
    """A running instance: its port, its directory and the pid file its master writes."""

    port: int
    root: Path
    pid_file: Path

    @property
    def audit_log(self) -> Path:
        return self.root / "logs" / "audit.json"

    @property
    def error_log(self) -> Path:
        return self.root / "logs" / "error.log"


def _require(*paths: Path) -> None:
    for path in paths:
        if not path.exists():
            raise AssertionError(f"{path} missing; run `bash scripts/services.sh up`")


def _instance_dir(recommended: Path, unicode_mapping: Path) -> Path:
    """A world-readable directory (the unprivileged workers serve htdocs/ from it; pytest's
    tmp_path is private) with the ModSecurity settings and an index page."""
    root = Path(tempfile.mkdtemp(prefix="alertflow-waf-"))
    root.chmod(0o755)
    for sub in ("conf", "logs", "run", "htdocs", "tmp"):
        (root / sub).mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "htdocs" / "index.html").write_text(INDEX_HTML)
    shutil.copy(unicode_mapping, root / "conf" / "unicode.mapping")
    (root / "conf" / "modsecurity.conf").write_text(_modsecurity_conf(recommended, root))
    (root / "conf" / "rules.conf").write_text(
        f"Include {root / 'conf' / 'modsecurity.conf'}\nInclude {CRS_SETUP}\nInclude {CRS_RULES}/*.conf\n"
    )
    return root


def _modsecurity_conf(recommended: Path, root: Path) -> str:
    """The package's recommended settings with the rule engine on and a JSON audit log here."""
    replaced = {*AUDIT_SETTINGS, "SecAuditLog", "SecTmpDir", "SecDataDir", "SecUnicodeMapFile"}
    lines = [
        line
        for line in recommended.read_text().splitlines()
        if not (line.strip() and line.split(maxsplit=1)[0] in replaced)
    ]
    lines += [f"{k} {v}" for k, v in AUDIT_SETTINGS.items()]
    lines += [
        f"SecAuditLog {root / 'logs' / 'audit.json'}",
        f"SecTmpDir {root / 'tmp'}",
        f"SecDataDir {root / 'tmp'}",
        f"SecUnicodeMapFile {root / 'conf' / 'unicode.mapping'} 20127",
    ]
    return "\n".join(lines) + "\n"


def _wait_listening(sensor: WebSensor) -> WebSensor:
    deadline = time.monotonic() + 30
    while not _answers(sensor.port):
        if time.monotonic() > deadline:
            log = sensor.error_log.read_text() if sensor.error_log.exists() else "(no error log)"
            raise AssertionError(f"nothing listens on 127.0.0.1:{sensor.port}: {log}")
        time.sleep(0.05)
    return sensor


def _started(sensor: WebSensor, command: list[str]) -> WebSensor:
    """Run the server's start command and wait until it listens; on failure nothing is left behind."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        log = sensor.error_log.read_text() if sensor.error_log.exists() else ""
        assert done.returncode == 0, done.stdout + done.stderr + log
        return _wait_listening(sensor)
    except BaseException:
        remove(sensor)
        raise


def start_apache() -> WebSensor:
    """Apache 2.4 + ModSecurity 2.9 + CRS, started with `apache2 -f CONF -k start`."""
    apache2 = required_tool("apache2", "/usr/sbin/apache2")
    modules = Path("/usr/lib/apache2/modules")
    recommended = Path("/etc/modsecurity/modsecurity.conf-recommended")
    mapping = Path("/etc/modsecurity/unicode.mapping")
    _require(modules / "mod_security2.so", recommended, mapping, CRS_SETUP, CRS_RULES)
    root = _instance_dir(recommended, mapping)
    port = free_port()
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    conf = root / "conf" / "httpd.conf"
    conf.write_text(f"""\
ServerRoot {root}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {root / "run" / "httpd.pid"}
DefaultRuntimeDir {root / "run"}
ErrorLog {root / "logs" / "error.log"}
LogLevel warn
{user}LoadModule mpm_event_module {modules / "mod_mpm_event.so"}
LoadModule authz_core_module {modules / "mod_authz_core.so"}
LoadModule unique_id_module {modules / "mod_unique_id.so"}
LoadModule security2_module {modules / "mod_security2.so"}
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
DocumentRoot {root / "htdocs"}
<Directory {root / "htdocs"}>
    Require all granted
</Directory>
Include {root / "conf" / "rules.conf"}
""")
    return _started(
        WebSensor(port=port, root=root, pid_file=root / "run" / "httpd.pid"),
        [apache2, "-f", str(conf), "-k", "start"],
    )


def start_nginx() -> WebSensor:
    """nginx + ModSecurity 3 (libmodsecurity) + CRS, started as a daemon with its own prefix."""
    nginx = required_tool("nginx", "/usr/sbin/nginx")
    module = Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so")
    recommended = Path("/etc/nginx/modsecurity.conf")
    mapping = Path("/etc/nginx/unicode.mapping")
    _require(module, recommended, mapping, CRS_SETUP, CRS_RULES)
    root = _instance_dir(recommended, mapping)
    port = free_port()
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    temp = root / "tmp"
    conf = root / "conf" / "nginx.conf"
    conf.write_text(f"""\
load_module {module};
{user}worker_processes 1;
pid {root / "run" / "nginx.pid"};
error_log {root / "logs" / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    modsecurity on;
    modsecurity_rules_file {root / "conf" / "rules.conf"};
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root / "htdocs"};
    }}
}}
""")
    return _started(
        WebSensor(port=port, root=root, pid_file=root / "run" / "nginx.pid"),
        [nginx, "-p", str(root), "-e", str(root / "logs" / "error.log"), "-c", str(conf)],
    )


def stop(sensor: WebSensor) -> None:
    """Stop the instance and wait for its master to exit (its audit log is complete then)."""
    if not sensor.pid_file.exists():
        return
    pid = int(sensor.pid_file.read_text().strip())
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"server {pid} still runs 30 s after SIGTERM")
        time.sleep(0.05)


def remove(sensor: WebSensor) -> None:
    """Stop the instance if it still runs and delete its directory."""
    stop(sensor)
    shutil.rmtree(sensor.root, ignore_errors=True)


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
    """Send raw request bytes over loopback; (the HTTP status answered, the client's port)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        client_port = conn.getsockname()[1]
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    assert match, f"no HTTP status line in {answer[:200]!r}"
    return int(match.group(1)), client_port
