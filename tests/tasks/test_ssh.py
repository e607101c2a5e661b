"""run_script against real OpenSSH servers on loopback (scripts/test-hosts.sh)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from prefect import flow

from alertmodel.errors import FanOutError, RemoteCommandError
from tasks.ssh import command_line, run_script

pytestmark = pytest.mark.integration

OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINfa6aH4WDCpnE6M9znRY+pvw3vHaDadFE4cRPS5/MNS"


def test_command_line_quotes_every_argument_and_env_value() -> None:
    line = command_line(["echo", "a b", "x; touch /tmp/p"], env={"K": "$(id)"}, cwd="/tmp/x y")
    assert "'x; touch /tmp/p'" in line
    assert "'K=$(id)'" in line
    assert line.startswith("cd -- '/tmp/x y' && ")


def test_command_line_refuses_an_environment_name_that_is_not_a_shell_name() -> None:
    with pytest.raises(ValueError, match="not a valid shell name"):
        command_line(["true"], env={"A;B": "x"})


async def test_run_script_fans_out_over_five_hosts_with_one_result_each(
    ssh_hosts: Any, prefect_server: Any
) -> None:
    @flow
    async def fan_out() -> Any:
        return await run_script(ssh_hosts.profiles(), ["sh", "-c", 'echo "$SSH_CONNECTION"'], concurrency=3)

    run = await fan_out()
    assert [r.host for r in run.results] == [h["name"] for h in ssh_hosts.hosts]
    for result, host in zip(run.results, ssh_hosts.hosts, strict=True):
        assert result.ok and result.exit_status == 0
        server_address, server_port = result.stdout.split()[2:4]
        assert (server_address, int(server_port)) == (host["address"], host["port"])


async def test_a_host_with_a_wrong_known_key_is_refused_and_reported_alone(ssh_hosts: Any) -> None:
    hosts = ssh_hosts.profiles()[:3]
    hosts[1] = ssh_hosts.profile(1, known_host_keys=[OTHER_KEY])
    with pytest.raises(FanOutError, match=r"1 of 3 hosts: host2: HostKeyNotVerifiable") as info:
        await run_script.fn(hosts, ["true"])
    assert [r.ok for r in info.value.results.results] == [True, False, True]

    run = await run_script.fn(hosts, ["true"], allow_failure=True)
    assert [r.host for r in run.failed] == ["host2"]
    assert run.failed[0].exit_status is None


async def test_a_shell_metacharacter_argument_stays_one_argument(ssh_hosts: Any) -> None:
    pwned = f"/tmp/pwned-{uuid.uuid4().hex}"
    argument = f"x; touch {pwned}"
    run = await run_script.fn(
        ssh_hosts.profile(0),
        ["printf", "[%s]\\n", argument, f"$(touch {pwned})", f"`touch {pwned}`"],
        env={"EVIL": f"$(touch {pwned})"},
    )
    assert run.results[0].stdout == f"[{argument}]\n[$(touch {pwned})]\n[`touch {pwned}`]\n"
    assert not os.path.exists(pwned)


async def test_environment_and_working_directory_reach_the_command(ssh_hosts: Any) -> None:
    host = ssh_hosts.hosts[0]
    run = await run_script.fn(
        ssh_hosts.profile(0),
        ["sh", "-c", 'echo "$GREETING"; pwd'],
        env={"GREETING": "hi there"},
        cwd=host["root"],
    )
    assert run.results[0].stdout == f"hi there\n{host['root']}\n"


async def test_a_timeout_kills_the_remote_command_and_its_children(ssh_hosts: Any) -> None:
    token = f"3600.{uuid.uuid4().int % 10**6:06d}"
    run = await run_script.fn(
        ssh_hosts.profile(0), ["sh", "-c", f"sleep {token}; echo never"], timeout_s=1, allow_failure=True
    )
    result = run.results[0]
    assert result.timed_out and not result.ok and "timed out" in (result.error or "")
    assert "never" not in result.stdout

    def alive() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            if proc.info["cmdline"] == ["sleep", token] and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        return found

    for _ in range(50):  # the kill already happened; this only waits for the kernel to reap
        if not alive():
            break
        await asyncio.sleep(0.1)
    assert alive() == []


async def test_a_non_zero_exit_fails_unless_it_is_allowed(ssh_hosts: Any) -> None:
    host = ssh_hosts.profile(0)
    with pytest.raises(RemoteCommandError, match="exited 3: boom"):
        await run_script.fn(host, ["sh", "-c", "echo boom >&2; exit 3"])
    run = await run_script.fn(host, ["sh", "-c", "exit 3"], allowed_exit_codes=[0, 3])
    assert run.results[0].ok and run.results[0].exit_status == 3


async def test_captured_output_is_bounded_and_marked_truncated(ssh_hosts: Any) -> None:
    run = await run_script.fn(
        ssh_hosts.profile(0), ["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a"], max_output_bytes=1000
    )
    result = run.results[0]
    assert result.stdout == "a" * 1000 and result.stdout_truncated
    assert result.stderr == "" and not result.stderr_truncated


async def test_a_local_script_is_uploaded_run_with_its_arguments_and_removed(
    ssh_hosts: Any, tmp_path: Path
) -> None:
    script = tmp_path / "collect.sh"
    script.write_text('#!/bin/sh\necho "$0"\necho "args:$#:$1"\n')
    run = await run_script.fn(ssh_hosts.profile(0), ["one arg; not two"], script=script)
    remote_path, args = run.results[0].stdout.splitlines()
    assert args == "args:1:one arg; not two"
    assert remote_path.startswith("/") and not os.path.exists(remote_path)


async def test_a_command_given_as_one_string_is_refused(ssh_hosts: Any) -> None:
    with pytest.raises(TypeError, match="argument list"):
        await run_script.fn(ssh_hosts.profile(0), "rm -rf /tmp/x")  # type: ignore[arg-type]


async def test_an_encrypted_private_key_logs_in_with_its_passphrase_and_a_wrong_one_is_reported_safely(
    ssh_hosts: Any,
) -> None:
    import asyncssh

    from blocks.credentials import CredentialProfile

    key = asyncssh.read_private_key(ssh_hosts.inventory["key_path"])
    encrypted = key.export_private_key(passphrase="right-passphrase-123").decode()
    user = ssh_hosts.hosts[0]["user"]
    good = CredentialProfile(username=user, private_key=encrypted, passphrase="right-passphrase-123")
    run = await run_script.fn(ssh_hosts.profile(0, credential=good), ["true"])
    assert run.results[0].ok

    bad = CredentialProfile(username=user, private_key=encrypted, passphrase="wrong-passphrase-456")
    run = await run_script.fn(ssh_hosts.profile(0, credential=bad), ["true"], allow_failure=True)
    error = run.results[0].error or ""
    assert "could not be read" in error
    assert "wrong-passphrase-456" not in run.model_dump_json() and "PRIVATE KEY" not in error
