from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from alertflow.up.prefect_server import LocalPrefectServer
from flows.collect_forensics import collect_forensics

pytestmark = pytest.mark.integration


async def test_outputs_of_several_hosts_reach_the_evidence_host_with_checksums(
    prefect_server: LocalPrefectServer, ssh_hosts: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    out_dir = Path(ssh_hosts.hosts[0]["root"])
    evidence_dir = Path(ssh_hosts.hosts[3]["root"]) / f"evidence-{tag}"
    names = []
    for index in range(3):
        name = f"fx-{tag}-{index}"
        await ssh_hosts.profile(index, file_roots=[str(out_dir)]).save(name)
        names.append(name)
    await ssh_hosts.profile(3, file_roots=[str(evidence_dir)]).save(f"fx-{tag}-evidence")
    failing = ssh_hosts.hosts[2]["name"]  # {host} is the HostProfile's name; this one exits 3
    command = [
        "sh",
        "-c",
        f'test "$1" != "{failing}" || exit 3; echo "collected on $1" > "$2"',
        "sh",
        "{host}",
        str(out_dir / f"{tag}-{{host}}.txt"),
    ]

    result = await collect_forensics(
        hosts=names,
        command=command,
        output_path=str(out_dir / f"{tag}-{{host}}.txt"),
        evidence_host=f"fx-{tag}-evidence",
        evidence_dir=str(evidence_dir),
    )

    expected = [(ssh_hosts.hosts[i]["name"], i != 2) for i in range(3)]
    assert [(h.host, h.ok) for h in result.hosts] == expected
    assert result.hosts[2].exit_status == 3
    for host in result.hosts[:2]:
        where, _, path = (host.evidence_path or "").partition(":")  # "host:path" as copy_files reports it
        assert where == ssh_hosts.hosts[3]["name"]
        stored = Path(path)
        assert stored.is_relative_to(evidence_dir)
        assert stored.read_text() == f"collected on {host.host}\n"
        assert host.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()


async def test_relative_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="must be absolute"):
        await collect_forensics.fn(
            hosts=["a"], command=["true"], output_path="out.txt", evidence_host="e", evidence_dir="/tmp"
        )


async def test_paths_outside_the_file_roots_are_refused_before_any_command_runs(
    prefect_server: LocalPrefectServer, ssh_hosts: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    root = Path(ssh_hosts.hosts[0]["root"])
    marker = root / f"ran-{tag}"
    await ssh_hosts.profile(0, file_roots=[str(root / "out")]).save(f"fx-{tag}-host")
    await ssh_hosts.profile(1, file_roots=[str(root / "evidence")]).save(f"fx-{tag}-evidence")
    for output_path, evidence_dir, reason in [
        ("/etc/shadow", str(root / "evidence"), "host host1: path '/etc/shadow' is outside"),
        (str(root / "out/x.txt"), "/var/tmp", "evidence host host2: path '/var/tmp' is outside"),
    ]:
        state = await collect_forensics(
            hosts=[f"fx-{tag}-host"],
            command=["touch", str(marker)],
            output_path=output_path,
            evidence_host=f"fx-{tag}-evidence",
            evidence_dir=evidence_dir,
            return_state=True,
        )
        assert state.is_failed() and reason in (state.message or ""), state.message
    assert not marker.exists()
