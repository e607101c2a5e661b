"""copy_files / move_files between real SFTP hosts and this machine."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.runtime import flow_run

from alertmodel.errors import ChecksumMismatchError
from tasks import sftp
from tasks.sftp import copy_files, move_files
from tests.tasks.conftest import artifacts_of

pytestmark = pytest.mark.integration


def _file(directory: str | Path, size: int = 700_000) -> tuple[Path, bytes]:
    path = Path(directory) / f"evidence-{uuid.uuid4().hex[:8]}.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    path.chmod(0o644)
    return path, data


def _leftovers(directory: str | Path) -> list[str]:
    return [p.name for p in Path(directory).iterdir() if p.name.endswith(".part")]


async def test_copy_host_to_host_streams_and_verifies_the_checksum(
    ssh_hosts: Any, prefect_server: Any
) -> None:
    src_root, dst_root = ssh_hosts.hosts[0]["root"], ssh_hosts.hosts[1]["root"]
    path, data = _file(src_root, 1_500_000)

    @flow
    async def copy() -> tuple[Any, Any]:
        source = ssh_hosts.profile(0, file_roots=[src_root])
        destination = ssh_hosts.profile(1, file_roots=[dst_root])
        return await copy_files(source, [str(path)], destination, dst_root), flow_run.id

    result, run_id = await copy()
    (artifact,) = await artifacts_of(run_id)
    assert artifact.type == "table" and path.name in artifact.data
    copied = Path(dst_root) / path.name
    assert copied.read_bytes() == data
    assert result.files[0].sha256 == hashlib.sha256(data).hexdigest()
    assert result.files[0].size == len(data)
    assert result.files[0].destination == f"host2:{copied}"
    assert path.exists() and _leftovers(dst_root) == []


async def test_copy_between_this_machine_and_a_host_both_ways(ssh_hosts: Any, tmp_path: Path) -> None:
    root = ssh_hosts.hosts[2]["root"]
    host = ssh_hosts.profile(2, file_roots=[root])
    path, data = _file(tmp_path)
    await copy_files.fn(None, [str(path)], host, root, local_roots=[str(tmp_path)])
    assert (Path(root) / path.name).read_bytes() == data
    back = tmp_path / "back"
    back.mkdir()
    result = await copy_files.fn(host, [f"{root}/{path.name}"], None, str(back), local_roots=[str(back)])
    assert (back / path.name).read_bytes() == data
    assert result.files[0].source == f"host3:{root}/{path.name}"


async def test_copy_refuses_to_overwrite_unless_asked(ssh_hosts: Any, tmp_path: Path) -> None:
    root = ssh_hosts.hosts[2]["root"]
    host, local = ssh_hosts.profile(2, file_roots=[root]), [str(tmp_path)]
    path, _ = _file(tmp_path)
    await copy_files.fn(None, [str(path)], host, root, local_roots=local)
    with pytest.raises(FileExistsError):
        await copy_files.fn(None, [str(path)], host, root, local_roots=local)
    path.write_bytes(b"newer")
    await copy_files.fn(None, [str(path)], host, root, local_roots=local, overwrite=True)
    assert (Path(root) / path.name).read_bytes() == b"newer"


async def test_move_deletes_the_source_after_verification(ssh_hosts: Any) -> None:
    src_root, dst_root = ssh_hosts.hosts[0]["root"], ssh_hosts.hosts[1]["root"]
    path, data = _file(src_root)
    source, destination = (
        ssh_hosts.profile(0, file_roots=[src_root]),
        ssh_hosts.profile(1, file_roots=[dst_root]),
    )
    result = await move_files.fn(source, [str(path)], destination, dst_root)
    assert result.moved and not path.exists()
    assert (Path(dst_root) / path.name).read_bytes() == data


async def test_a_move_whose_verification_fails_leaves_the_source(
    ssh_hosts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src_root, dst_root = ssh_hosts.hosts[0]["root"], ssh_hosts.hosts[1]["root"]
    path, data = _file(src_root)

    async def corrupted(self: Any, remote_path: str) -> str:
        return "0" * 64  # what a destination that mangled the bytes would report

    monkeypatch.setattr(sftp._SftpEndpoint, "sha256", corrupted)
    source, destination = (
        ssh_hosts.profile(0, file_roots=[src_root]),
        ssh_hosts.profile(1, file_roots=[dst_root]),
    )
    with pytest.raises(ChecksumMismatchError, match="source was left in place"):
        await move_files.fn(source, [str(path)], destination, dst_root)
    assert path.read_bytes() == data
    assert not (Path(dst_root) / path.name).exists()
    assert _leftovers(dst_root) == []


async def test_paths_outside_the_host_roots_are_refused(ssh_hosts: Any, tmp_path: Path) -> None:
    root = ssh_hosts.hosts[0]["root"]
    host = ssh_hosts.profile(0, file_roots=[root])
    for bad, reason in [
        (f"{root}/../../../etc/passwd", "traversal"),
        ("/etc/passwd", "outside the allowed roots"),
    ]:
        with pytest.raises(ValueError, match=reason):
            await copy_files.fn(host, [bad], None, str(tmp_path), local_roots=[str(tmp_path)])
    link = Path(root) / f"etc-link-{uuid.uuid4().hex[:6]}"
    link.symlink_to("/etc")
    with pytest.raises(ValueError, match=r"\(resolved\).*outside the allowed roots"):
        await copy_files.fn(host, [f"{link}/hostname"], None, str(tmp_path), local_roots=[str(tmp_path)])
    with pytest.raises(ValueError, match="outside the allowed roots"):
        await copy_files.fn(None, [str(tmp_path)], host, "/tmp", local_roots=[str(tmp_path)])
    assert list(tmp_path.iterdir()) == []


async def test_a_host_without_file_roots_allows_no_file_at_all(ssh_hosts: Any, tmp_path: Path) -> None:
    root = ssh_hosts.hosts[0]["root"]
    path, _ = _file(root)
    with pytest.raises(ValueError, match="source host1: no file roots are set"):
        await copy_files.fn(
            ssh_hosts.profile(0), [str(path)], None, str(tmp_path), local_roots=[str(tmp_path)]
        )
    with pytest.raises(ValueError, match="destination local: no file roots are set"):
        await copy_files.fn(ssh_hosts.profile(0, file_roots=[root]), [str(path)], None, str(tmp_path))
    assert list(tmp_path.iterdir()) == []


async def test_forged_paths_are_refused_before_any_connection(
    ssh_hosts: Any, tmp_path: Path, unused_tcp_port: int
) -> None:
    # Nothing listens on this port: a connection attempt would fail with OSError, not ValueError.
    host = ssh_hosts.profile(0, port=unused_tcp_port, file_roots=["/var/ossec"])
    for forged, reason in [
        ("../../etc/shadow", "must be absolute"),
        ("/etc/shadow", "outside the allowed roots"),
        ("/var/ossec/../../etc/passwd", "traversal"),
        ("/var/ossecX/queue", "outside the allowed roots"),
    ]:
        with pytest.raises(ValueError, match=reason):
            await copy_files.fn(host, [forged], None, str(tmp_path), local_roots=[str(tmp_path)])


async def test_a_root_that_is_itself_a_symlink_still_allows_the_files_below_it(
    ssh_hosts: Any, tmp_path: Path
) -> None:
    root = Path(ssh_hosts.hosts[0]["root"])
    real = root / f"real-{uuid.uuid4().hex[:6]}"
    real.mkdir()
    link = root / f"link-{uuid.uuid4().hex[:6]}"
    link.symlink_to(real)
    path, data = _file(real)
    host = ssh_hosts.profile(0, file_roots=[str(link)])
    await copy_files.fn(host, [f"{link}/{path.name}"], None, str(tmp_path), local_roots=[str(tmp_path)])
    assert (tmp_path / path.name).read_bytes() == data
