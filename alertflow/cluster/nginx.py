"""The load balancer in front of the Prefect API servers: nginx (Debian's package), loopback only."""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

from alertmodel.errors import ConfigurationError

TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if path is None:
        raise ConfigurationError(
            "nginx is not installed: run `bash scripts/services.sh up` (Debian package nginx)"
        )
    return path


def write_config(directory: Path, log_dir: Path, port: int, server_ports: list[int]) -> Path:
    """nginx.conf for a round-robin over the API servers; a server that refuses or times out is
    skipped for 5 s and the request goes to the next one (a request already sent is not repeated)."""
    for name in TEMP_DIRS:
        (directory / "temp" / name).mkdir(parents=True, exist_ok=True)
    # As root, nginx's workers would run as nobody, who cannot enter the private data dir.
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};\n" if os.geteuid() == 0 else ""
    upstreams = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in server_ports)
    temps = "".join(f"  {name}_temp_path {directory / 'temp' / name};\n" for name in TEMP_DIRS)
    config = f"""{user}worker_processes 1;
pid {directory / "nginx.pid"};
error_log {log_dir / "lb.log"} warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temps}  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  upstream prefect_api {{
{upstreams}    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 64m;
    location / {{
      proxy_pass http://prefect_api;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_next_upstream error timeout http_502;
      proxy_connect_timeout 2s;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
    }}
  }}
}}
"""
    path = directory / "nginx.conf"
    path.write_text(config, encoding="utf-8")
    return path


def argv(config: Path) -> list[str]:
    """nginx in the foreground (the cluster keeps its pid) with this config and prefix."""
    return [nginx_binary(), "-c", str(config), "-p", str(config.parent), "-g", "daemon off;"]
