"""Run a command or a local script on one or many hosts over SSH, concurrently, with quoted arguments."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import asyncssh
from prefect import task
from pydantic import BaseModel, Field

from alertmodel.errors import FanOutError, IntegrationError, RemoteCommandError
from blocks.host import HostProfile
from blocks.run_context import in_run_context, run_logger

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PGID_MARKER = b"ALERTFLOW-PGID="
KILL_GRACE_S = 5.0


class CommandOutput(BaseModel):
    """What one remote command did."""

    exit_status: int | None = Field(description="Exit code; None when the command was killed or lost.")
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    timed_out: bool = False


class HostScriptResult(CommandOutput):
    """One host's outcome in a run_script fan-out."""

    host: str
    ok: bool = Field(description="True when the command ran and its exit code is allowed.")
    error: str | None = Field(default=None, description="Why the host failed (connection, timeout, exit).")
    duration_s: float = 0.0


class ScriptRun(BaseModel):
    """Per-host results of run_script, in the order the hosts were given."""

    command: list[str]
    results: list[HostScriptResult]

    @property
    def failed(self) -> list[HostScriptResult]:
        return [r for r in self.results if not r.ok]


def command_line(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
    """The shell line that runs `argv` with every argument quoted, in its own process group.

    The command runs under `setsid` so a timeout can kill it with all its children; its
    process-group id is printed first on stderr (and stripped from the captured output).
    """
    if not argv:
        raise ValueError("command must name at least the program to run")
    env_args = []
    for name, value in (env or {}).items():
        if not ENV_NAME.match(name):
            raise ValueError(f"environment variable name {name!r} is not a valid shell name")
        env_args.append(shlex.quote(f"{name}={value}"))
    marker = PGID_MARKER.decode()
    inner = shlex.quote(f'printf "{marker}%s\\n" "$$" >&2; exec "$@"')
    env_prefix = f"env {' '.join(env_args)} " if env_args else ""
    line = f"exec setsid -w {env_prefix}sh -c {inner} sh {' '.join(map(shlex.quote, argv))}"
    if cwd is not None:
        line = f"cd -- {shlex.quote(cwd)} && {line}"
    return line


class _Capture:
    """Reads a stream to its end, keeping at most `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.truncated = True
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


async def run_command(
    conn: asyncssh.SSHClientConnection,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout_s: float = 300,
    max_output_bytes: int = 64 * 1024,
) -> CommandOutput:
    """Run `argv` (quoted) on an open connection; on timeout kill its whole process group."""
    process = await conn.create_process(command_line(argv, env=env, cwd=cwd), encoding=None)
    out, err = _Capture(max_output_bytes), _Capture(max_output_bytes)
    pgid: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def read_stdout() -> None:
        while chunk := await process.stdout.read(65536):
            out.add(chunk)

    async def read_stderr() -> None:
        head = b""
        while not pgid.done():
            chunk = await process.stderr.read(65536)
            if not chunk:
                pgid.set_result(None)
                err.add(head)
                return
            head += chunk
            if b"\n" not in head and len(head) > 256:  # no marker line: keep it all as output
                pgid.set_result(None)
                err.add(head)
            elif b"\n" in head:
                first, rest = head.split(b"\n", 1)
                marked = first.startswith(PGID_MARKER) and first[len(PGID_MARKER) :].isdigit()
                pgid.set_result(int(first[len(PGID_MARKER) :]) if marked else None)
                err.add(rest if marked else head)
        while chunk := await process.stderr.read(65536):
            err.add(chunk)

    readers = asyncio.gather(read_stdout(), read_stderr(), process.wait_closed())
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(readers), timeout_s)
    except TimeoutError:
        timed_out = True
        await _kill(conn, pgid)
        try:
            await asyncio.wait_for(asyncio.shield(readers), KILL_GRACE_S)
        except TimeoutError:
            process.close()
            readers.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncssh.Error):
                await readers
    return CommandOutput(
        exit_status=None if timed_out else process.exit_status,
        stdout=out.text(),
        stderr=err.text(),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        timed_out=timed_out,
    )


async def _kill(conn: asyncssh.SSHClientConnection, pgid: asyncio.Future[int | None]) -> None:
    """TERM then KILL the command's process group, over a second channel of the same connection."""
    try:  # a slow host may not have reported the group id yet
        group_id = await asyncio.wait_for(asyncio.shield(pgid), KILL_GRACE_S)
    except TimeoutError:
        return
    if group_id is None:
        return
    group = f"-{group_id}"
    await conn.run(f"kill -TERM -- {group} 2>/dev/null", check=False)
    await conn.run(
        f"for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- {group} 2>/dev/null || exit 0; sleep 0.2; done; "
        f"kill -KILL -- {group} 2>/dev/null",
        check=False,
    )


async def _upload_script(conn: asyncssh.SSHClientConnection, script: Path) -> str:
    """Copy a local script to a private temp file on the host; returns its remote path."""
    made = await conn.run("mktemp -t alertflow-script.XXXXXXXX", check=False)
    remote = str(made.stdout or "").strip()
    if made.exit_status != 0 or not remote.startswith("/"):
        raise IntegrationError(f"could not create a temp file for the script: {str(made.stderr)[:300]}")
    async with conn.start_sftp_client() as sftp:
        await sftp.put(str(script), remote)
        await sftp.chmod(remote, 0o700)
    return remote


async def _run_on_host(
    host: HostProfile,
    argv: Sequence[str],
    script: Path | None,
    *,
    env: Mapping[str, str] | None,
    cwd: str | None,
    timeout_s: float,
    max_output_bytes: int,
    allowed: frozenset[int],
) -> HostScriptResult:
    started = time.monotonic()
    try:
        async with await host.connect() as conn:
            remote_script = await _upload_script(conn, script) if script else None
            try:
                full = [remote_script, *argv] if remote_script else list(argv)
                output = await run_command(
                    conn, full, env=env, cwd=cwd, timeout_s=timeout_s, max_output_bytes=max_output_bytes
                )
            finally:
                if remote_script:
                    await conn.run(f"rm -f -- {shlex.quote(remote_script)}", check=False)
    except (OSError, asyncssh.Error, TimeoutError, ValueError, IntegrationError) as exc:
        reason = str(exc) or type(exc).__name__
        return HostScriptResult(
            host=host.name,
            ok=False,
            exit_status=None,
            error=f"{type(exc).__name__}: {reason}"[:500],
            duration_s=time.monotonic() - started,
        )
    if output.timed_out:
        error: str | None = f"timed out after {timeout_s:g}s; the command's process group was killed"
    elif output.exit_status not in allowed:
        error = f"exited {output.exit_status}: {output.stderr.strip()[:300]}"
    else:
        error = None
    return HostScriptResult(
        host=host.name,
        ok=error is None,
        error=error,
        duration_s=time.monotonic() - started,
        **output.model_dump(),
    )


@task(name="run_script")
async def run_script(
    hosts: HostProfile | Sequence[HostProfile],
    command: Sequence[str] = (),
    *,
    script: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout_s: float = 300,
    allowed_exit_codes: Sequence[int] = (0,),
    allow_failure: bool = False,
    max_output_bytes: int = 64 * 1024,
    concurrency: int = 32,
) -> ScriptRun:
    """Run a command (argument list, each quoted) or an uploaded local script on every host.

    Args:
        command: program and arguments; with `script`, the script's arguments.
        script: a local script file, uploaded to a private temp file, run, then deleted.
        allow_failure: return per-host failures instead of failing the task.
        concurrency: at most this many hosts at once.
    """
    targets = [hosts] if isinstance(hosts, HostProfile) else list(hosts)
    if not targets:
        raise ValueError("run_script needs at least one host")
    if isinstance(command, str):
        raise TypeError("command must be an argument list such as ['systemctl', 'restart', 'nginx']")
    script_path = Path(script) if script is not None else None
    if script_path is None and not command:
        raise ValueError("give a command (argument list) or a script")
    if script_path is not None and not script_path.is_file():
        raise ValueError(f"script {script_path} is not a readable file")
    if timeout_s <= 0 or concurrency < 1 or max_output_bytes < 0:
        raise ValueError("timeout_s and concurrency must be positive, max_output_bytes not negative")
    logger = run_logger()
    limit = asyncio.Semaphore(concurrency)
    allowed = frozenset(allowed_exit_codes)

    async def one(host: HostProfile) -> HostScriptResult:
        async with limit:
            result = await _run_on_host(
                host,
                list(command),
                script_path,
                env=env,
                cwd=cwd,
                timeout_s=timeout_s,
                max_output_bytes=max_output_bytes,
                allowed=allowed,
            )
        if result.ok:
            logger.info("host %s: exit %s in %.2fs", result.host, result.exit_status, result.duration_s)
        else:
            logger.warning("host %s failed: %s", result.host, result.error)
        return result

    shown = [f"<script {script_path.name}>", *command] if script_path else list(command)
    run = ScriptRun(command=shown, results=list(await asyncio.gather(*(one(h) for h in targets))))
    if in_run_context():
        from prefect.artifacts import acreate_table_artifact

        await acreate_table_artifact(
            table=[
                {"host": r.host, "ok": r.ok, "exit": r.exit_status, "error": r.error or ""}
                for r in run.results
            ],
            description=f"run_script {shlex.join(shown)[:200]}",
        )
    if run.failed and not allow_failure:
        if len(targets) == 1 and run.failed[0].exit_status is not None:
            failed = run.failed[0]
            raise RemoteCommandError(failed.host, failed.exit_status, failed.stderr)
        detail = "; ".join(f"{r.host}: {r.error}" for r in run.failed[:10])
        raise FanOutError(f"command failed on {len(run.failed)} of {len(run.results)} hosts: {detail}", run)
    return run
