"""Push Suricata rules, or add and remove IP block-list entries, on a sensor: check there, reload,
roll back on failure.

Block-list entries usually come from alerts, which an attacker can forge, so the task itself
(not only the flow that calls it) refuses networks unless the sensor allows them, and anything
inside the sensor's `own_networks` or `never_block`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import shlex
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
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
LOCK_SUFFIX = ".alertflow-lock"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


class BlocklistUpdateResult(IdsUpdateResult):
    """A block list after entries were added or removed; unchanged lists are neither written nor reloaded."""

    added: list[str]
    removed: list[str]
    changed: bool


def parse_entry(text: str) -> Network:
    """An IP address (as a one-address network) or a CIDR network with its host bits zero."""
    if not isinstance(text, str):
        raise TypeError(f"block-list entry {text!r} must be a string")
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        raise ValueError(f"block-list entry {text!r} is not an IP address or network") from None


def _entries(values: Sequence[str]) -> list[Network]:
    if isinstance(values, str):
        raise TypeError("ips must be a list of addresses")
    return [parse_entry(value) for value in values]


def entry_text(net: Network) -> str:
    """An entry as written: the bare address for a single one, else the CIDR network."""
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def _overlapping(net: Network, ranges: Sequence[str]) -> str | None:
    for text in ranges:
        other = ipaddress.ip_network(text)
        if other.version == net.version and net.overlaps(other):  # type: ignore[arg-type]
            return text
    return None


def blockable_entries(sensor: IdsSensor, ips: Sequence[str]) -> list[Network]:
    """The entries of `ips` a job may block on `sensor`, or ValueError naming the first it may not.

    Single addresses only unless the sensor sets `blocklist_networks` (then no wider than its
    minimum prefix); nothing that overlaps `own_networks` or `never_block`.
    """
    checked = []
    for net in _entries(ips):
        text = entry_text(net)
        if net.num_addresses > 1:
            if not sensor.blocklist_networks:
                raise ValueError(
                    f"{text} is a network; sensor {sensor.host.name} blocks single addresses only "
                    "(set blocklist_networks on its IdsSensor block to allow networks)"
                )
            widest = sensor.blocklist_min_prefix_v4 if net.version == 4 else sensor.blocklist_min_prefix_v6
            if net.prefixlen < widest:
                raise ValueError(
                    f"{text} is wider than /{widest}, the widest network sensor {sensor.host.name} may block"
                )
        own = _overlapping(net, sensor.own_networks)
        if own is not None:
            raise ValueError(
                f"{text} is in {own}, one of sensor {sensor.host.name}'s own_networks: "
                "blocking it could cut off your own network"
            )
        kept = _overlapping(net, sensor.never_block)
        if kept is not None:
            raise ValueError(f"{text} is in {kept}, on sensor {sensor.host.name}'s never_block list")
        checked.append(net)
    return checked


def _key(net: Network) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


@dataclass
class Blocklist:
    """A sensor's list file: its comment lines, and each entry with its line as written."""

    comments: list[str] = field(default_factory=list)
    lines: dict[Network, str] = field(default_factory=dict)

    def render(self) -> bytes:
        """Comments first, then the entries ordered by address."""
        ordered = [self.lines[net] for net in sorted(self.lines, key=_key)]
        return "".join(f"{line}\n" for line in [*self.comments, *ordered]).encode()


def entry_line(sensor: IdsSensor, net: Network, *, score: int = 100) -> str:
    """One entry in the sensor's format: Suricata iprep 'ip,category,score' or Wazuh CDB 'ip:'."""
    text = entry_text(net)
    if sensor.kind == "suricata":
        return f"{text},{sensor.blocklist_category},{score}"
    if net.num_addresses > 1:
        raise ValueError(f"Wazuh CDB lists hold addresses, not networks: {net}")
    return f'"{text}":' if net.version == 6 else f"{text}:"


def parse_blocklist(sensor: IdsSensor, text: str) -> Blocklist:
    """The list file as found on the sensor; a line that is no entry (nor comment) is an error."""
    listing = Blocklist()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            listing.comments.append(line)
            continue
        if sensor.kind == "suricata":
            key = line.split(",", 1)[0]
        elif line.startswith('"'):
            key = line[1:].split('"', 1)[0]
        else:
            key = line.split(":", 1)[0]
        try:
            listing.lines[parse_entry(key)] = line
        except ValueError:
            raise IdsUpdateError(
                f"line {number} of {sensor.host.name}:{sensor.blocklist_path} is not a "
                f"{sensor.kind} list entry ({line[:80]!r}); fix the file by hand, nothing was changed"
            ) from None
    return listing


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


@dataclass
class _Installed:
    previous_sha256: str | None
    checked: bool
    reloaded: bool


async def _install(
    sensor: IdsSensor,
    conn: asyncssh.SSHClientConnection,
    sftp: asyncssh.SFTPClient,
    path: str,
    content: bytes,
    check: Sequence[str],
    *,
    timeout_s: float,
) -> _Installed:
    """Put `content` at `path` (sent aside, verified, swapped in), check, reload; restore on failure."""
    host = sensor.host
    logger = run_logger()
    digest = hashlib.sha256(content).hexdigest()
    new, backup = path + NEW_SUFFIX, path + BACKUP_SUFFIX
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
                    raise IdsUpdateError(f"{reason}; restoring {host.name}:{path} FAILED (sha256 {restored})")
            logger.warning("%s; restored the previous %s on %s", reason, path, host.name)

        if check:
            out = await run_command(conn, _fill(check, path, tmpdir), timeout_s=timeout_s)
            if out.exit_status != 0:
                reason = f"check of {path} on {host.name} failed (exit {out.exit_status})"
                await restore(reason)
                raise IdsUpdateError(f"{reason}; the previous file was restored:\n{_trim(out)}")
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
    return _Installed(previous, checked=bool(check), reloaded=bool(sensor.reload_command))


async def _record(result: IdsUpdateResult) -> None:
    if in_run_context():
        from prefect.artifacts import acreate_table_artifact

        row = {k: ", ".join(v) if isinstance(v, list) else v for k, v in result.model_dump().items()}
        await acreate_table_artifact(table=[row], description=f"IDS update on {result.sensor}")


@contextlib.asynccontextmanager
async def _locked(
    conn: asyncssh.SSHClientConnection, name: str, path: str, wait_s: float
) -> AsyncIterator[None]:
    """Hold an exclusive flock next to `path` while the list is read, merged and written.

    A remote `flock ... cat` holds it until we close its stdin; if this run dies, the SSH
    session ends, cat sees end-of-file and the lock is released: it never stays behind.
    """
    lock = path + LOCK_SUFFIX
    argv = ["flock", "-x", "-w", str(max(1, int(wait_s))), lock, "sh", "-c", "echo locked; exec cat"]
    process = await conn.create_process(shlex.join(argv), encoding=None)
    try:
        line = await asyncio.wait_for(process.stdout.readline(), wait_s + 30)
    except TimeoutError:
        line = b""
    if line.strip() != b"locked":
        stderr = b""
        with contextlib.suppress(TimeoutError, asyncssh.Error):
            stderr = await asyncio.wait_for(process.stderr.read(800), 5)
        process.close()
        raise IdsUpdateError(
            f"could not lock {name}:{lock} within {wait_s:.0f}s (another update still running? "
            f"flock missing?) {stderr.decode(errors='replace').strip()}"
        )
    try:
        yield
    finally:
        process.stdin.write_eof()
        with contextlib.suppress(TimeoutError, asyncssh.Error):
            await asyncio.wait_for(process.wait_closed(), 10)
        process.close()


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
    path = sensor.rules_path
    async with await sensor.host.connect() as conn, conn.start_sftp_client() as sftp:
        done = await _install(sensor, conn, sftp, path, content, check, timeout_s=timeout_s)
    digest = hashlib.sha256(content).hexdigest()
    run_logger().info("installed %s on %s (sha256 %s, %d rules)", path, sensor.host.name, digest, count)
    result = IdsUpdateResult(
        sensor=sensor.host.name,
        kind=sensor.kind,
        path=path,
        sha256=digest,
        previous_sha256=done.previous_sha256,
        entries=count,
        checked=done.checked,
        reloaded=done.reloaded,
    )
    await _record(result)
    return result


async def _change_blocklist(
    sensor: IdsSensor, add: list[Network], remove: list[Network], *, score: int, timeout_s: float
) -> BlocklistUpdateResult:
    """Read the sensor's list under its lock, apply the change, and install it if anything changed."""
    path = sensor.blocklist_path
    if path is None:
        raise ValueError(f"sensor {sensor.host.name} has no blocklist_path configured")
    if not 1 <= score <= 127:
        raise ValueError("score must be within 1-127 (Suricata iprep)")
    lines = {net: entry_line(sensor, net, score=score) for net in add}
    host = sensor.host
    async with (
        await host.connect() as conn,
        conn.start_sftp_client() as sftp,
        _locked(conn, host.name, path, timeout_s),
    ):
        before, existed = b"", await sftp.exists(path)
        if existed:
            async with sftp.open(path, "rb") as f:
                before = await f.read()
        listing = parse_blocklist(sensor, before.decode("utf-8", errors="replace"))
        added = [net for net in dict.fromkeys(add) if net not in listing.lines]
        removed = [net for net in dict.fromkeys(remove) if net in listing.lines]
        for net in added:
            listing.lines[net] = lines[net]
        for net in removed:
            del listing.lines[net]
        content = listing.render()
        if added or removed:
            check = sensor.blocklist_check_command
            done = await _install(sensor, conn, sftp, path, content, check, timeout_s=timeout_s)
        else:
            previous = hashlib.sha256(before).hexdigest() if existed else None
            done = _Installed(previous, checked=False, reloaded=False)
    result = BlocklistUpdateResult(
        sensor=host.name,
        kind=sensor.kind,
        path=path,
        sha256=hashlib.sha256(content if added or removed else before).hexdigest(),
        previous_sha256=done.previous_sha256,
        entries=len(listing.lines),
        checked=done.checked,
        reloaded=done.reloaded,
        added=[entry_text(n) for n in added],
        removed=[entry_text(n) for n in removed],
        changed=bool(added or removed),
    )
    logger = run_logger()
    if result.changed:
        logger.info(
            "block list %s on %s: added %s, removed %s (%d entries)",
            path,
            host.name,
            result.added or "none",
            result.removed or "none",
            result.entries,
        )
        await _record(result)
    else:
        logger.info("block list %s on %s already as asked: not rewritten", path, host.name)
    return result


@task(name="block_ips")
async def block_ips(
    sensor: IdsSensor, ips: Sequence[str], *, score: int = 100, timeout_s: float = 300
) -> BlocklistUpdateResult:
    """Add `ips` to the sensor's list (Suricata iprep or Wazuh CDB), keeping every entry already there.

    Refused before the sensor is touched: a network when the sensor allows only addresses (or
    one wider than its limit), anything in its own_networks or never_block. Entries already
    listed are left as they are; when nothing is new the list is not rewritten. The new list
    is checked on the sensor and reloaded; on failure the previous list is put back.
    """
    wanted = blockable_entries(sensor, ips)
    if not wanted:
        raise ValueError("give at least one address to block")
    return await _change_blocklist(sensor, wanted, [], score=score, timeout_s=timeout_s)


@task(name="unblock_ips")
async def unblock_ips(
    sensor: IdsSensor, ips: Sequence[str], *, timeout_s: float = 300
) -> BlocklistUpdateResult:
    """Remove `ips` (addresses or networks, as listed) from the sensor's list; absent ones are ignored."""
    unwanted = _entries(ips)
    if not unwanted:
        raise ValueError("give at least one address to unblock")
    return await _change_blocklist(sensor, [], unwanted, score=100, timeout_s=timeout_s)
