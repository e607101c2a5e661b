"""Push Suricata rules or an IP block list to a sensor, check it there, reload, roll back on failure."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from collections.abc import Sequence
from pathlib import Path

import asyncssh
from prefect import task
from pydantic import BaseModel

from alertmodel.errors import IdsUpdateError, IntegrationError
from blocks.ids import IdsSensor
from blocks.run_context import in_run_context, run_logger
from tasks.ssh import CommandOutput, run_command

NEW_SUFFIX = ".alertflow-new"
BACKUP_SUFFIX = ".alertflow-bak"


class IdsUpdateResult(BaseModel):
    """A file that is now in place on a sensor, checked and reloaded."""

    sensor: str
    kind: str
    path: str
    sha256: str
    previous_sha256: str | None
    entries: int
    checked: bool
    reloaded: bool


def render_blocklist(sensor: IdsSensor, ips: Sequence[str], *, score: int = 100) -> bytes:
    """The list file in the sensor's format: Suricata iprep 'ip,category,score' or Wazuh CDB 'ip:'."""
    if isinstance(ips, str):
        raise TypeError("ips must be a list of addresses")
    if not 1 <= score <= 127:
        raise ValueError("score must be within 1-127 (Suricata iprep)")
    entries: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for ip in ips:
        try:
            entries.add(ipaddress.ip_network(ip.strip(), strict=True))
        except ValueError:
            raise ValueError(f"block-list entry {ip!r} is not an IP address or network") from None
    ordered = sorted(entries, key=lambda n: (n.version, n.network_address, n.prefixlen))
    lines = []
    for net in ordered:
        single = net.num_addresses == 1
        text = str(net.network_address) if single else str(net)
        if sensor.kind == "suricata":
            lines.append(f"{text},{sensor.blocklist_category},{score}")
        elif not single:
            raise ValueError(f"Wazuh CDB lists hold addresses, not networks: {net}")
        else:
            lines.append(f'"{text}":' if net.version == 6 else f"{text}:")
    return "".join(f"{line}\n" for line in lines).encode()


def _fill(argv: Sequence[str], path: str, tmpdir: str) -> list[str]:
    return [arg.replace("{path}", path).replace("{tmpdir}", tmpdir) for arg in argv]


def _trim(output: CommandOutput) -> str:
    text = "\n".join(part.strip() for part in (output.stderr, output.stdout) if part.strip())
    return text[-800:]


async def _sha256(conn: asyncssh.SSHClientConnection, path: str) -> str:
    out = await run_command(conn, ["sha256sum", "--", path], timeout_s=60)
    digest = out.stdout.split(" ", 1)[0]
    if out.exit_status != 0 or len(digest) != 64:
        raise IntegrationError(f"sha256sum {path} failed: {_trim(out)}")
    return digest


async def _deploy(
    sensor: IdsSensor, path: str, content: bytes, check: Sequence[str], *, entries: int, timeout_s: float
) -> IdsUpdateResult:
    host = sensor.host
    logger = run_logger()
    digest = hashlib.sha256(content).hexdigest()
    new, backup = path + NEW_SUFFIX, path + BACKUP_SUFFIX
    async with await host.connect() as conn, conn.start_sftp_client() as sftp:
        made = await run_command(conn, ["mktemp", "-d", "-t", "alertflow-ids.XXXXXXXX"], timeout_s=30)
        tmpdir = made.stdout.strip()
        if made.exit_status != 0 or not tmpdir.startswith("/"):
            raise IntegrationError(f"could not create a scratch directory on {host.name}: {_trim(made)}")
        try:
            async with sftp.open(new, "wb") as f:
                await f.write(content)
            if await _sha256(conn, new) != digest:
                raise IdsUpdateError(f"{host.name}:{new} does not match what was sent; nothing was changed")
            previous = await _sha256(conn, path) if await sftp.exists(path) else None
            if previous is not None:
                saved = await run_command(conn, ["cp", "-p", "--", path, backup], timeout_s=60)
                if saved.exit_status != 0:
                    raise IdsUpdateError(f"could not back up {host.name}:{path}: {_trim(saved)}")
            await sftp.posix_rename(new, path)

            async def restore(reason: str) -> None:
                if previous is None:
                    await sftp.remove(path)
                else:
                    await sftp.posix_rename(backup, path)
                    restored = await _sha256(conn, path)
                    if restored != previous:
                        raise IdsUpdateError(
                            f"{reason}; restoring {host.name}:{path} FAILED (sha256 {restored})"
                        )
                logger.warning("%s; restored the previous %s on %s", reason, path, host.name)

            checked = bool(check)
            if check:
                out = await run_command(conn, _fill(check, path, tmpdir), timeout_s=timeout_s)
                if out.exit_status != 0:
                    reason = f"check of {path} on {host.name} failed (exit {out.exit_status})"
                    await restore(reason)
                    raise IdsUpdateError(f"{reason}; the previous file was restored:\n{_trim(out)}")
            reloaded = bool(sensor.reload_command)
            if sensor.reload_command:
                reload = _fill(sensor.reload_command, path, tmpdir)
                out = await run_command(conn, reload, timeout_s=timeout_s)
                if out.exit_status != 0:
                    reason = f"reload on {host.name} failed (exit {out.exit_status})"
                    await restore(reason)
                    again = await run_command(conn, reload, timeout_s=timeout_s)
                    raise IdsUpdateError(
                        f"{reason}; the previous file was restored and reloaded "
                        f"(exit {again.exit_status}):\n{_trim(out)}"
                    )
        finally:
            with contextlib.suppress(OSError, asyncssh.Error):
                if await sftp.exists(new):
                    await sftp.remove(new)
            await run_command(conn, ["rm", "-rf", "--", tmpdir], timeout_s=30)
    logger.info("installed %s on %s (sha256 %s, %d entries)", path, host.name, digest, entries)
    result = IdsUpdateResult(
        sensor=host.name,
        kind=sensor.kind,
        path=path,
        sha256=digest,
        previous_sha256=previous,
        entries=entries,
        checked=checked,
        reloaded=reloaded,
    )
    if in_run_context():
        from prefect.artifacts import acreate_table_artifact

        await acreate_table_artifact(table=[result.model_dump()], description=f"IDS update on {host.name}")
    return result


@task(name="update_ids_rules")
async def update_ids_rules(
    sensor: IdsSensor, rules: str | Path, *, timeout_s: float = 300
) -> IdsUpdateResult:
    """Install a rules file (text, or a local file) as the sensor's rules_path, checked and reloaded.

    The file is checked on the sensor (`suricata -T` by default for Suricata); if the check or
    the reload fails, the previous file is put back and the task fails.
    """
    if sensor.rules_path is None:
        raise ValueError(f"sensor {sensor.host.name} has no rules_path configured")
    content = rules.read_bytes() if isinstance(rules, Path) else rules.encode()
    check = sensor.check_command
    if not check and sensor.kind == "suricata":
        check = ["suricata", "-T", "-c", sensor.suricata_config, "-S", "{path}", "-l", "{tmpdir}"]
    count = sum(
        1
        for line in content.decode(errors="replace").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return await _deploy(sensor, sensor.rules_path, content, check, entries=count, timeout_s=timeout_s)


@task(name="update_ip_blocklist")
async def update_ip_blocklist(
    sensor: IdsSensor, ips: Sequence[str], *, score: int = 100, timeout_s: float = 300
) -> IdsUpdateResult:
    """Replace the sensor's IP list (Suricata iprep or Wazuh CDB) with `ips`, checked and reloaded."""
    if sensor.blocklist_path is None:
        raise ValueError(f"sensor {sensor.host.name} has no blocklist_path configured")
    content = render_blocklist(sensor, ips, score=score)
    return await _deploy(
        sensor,
        sensor.blocklist_path,
        content,
        sensor.blocklist_check_command,
        entries=content.count(b"\n"),
        timeout_s=timeout_s,
    )
