"""Copy or move files between hosts (or this machine) over SFTP, streaming, checksum-verified."""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import shlex
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from typing import Protocol

import anyio
import asyncssh
from prefect import task
from pydantic import BaseModel

from alertmodel.errors import ChecksumMismatchError, IntegrationError
from blocks.host import HostProfile
from blocks.run_context import in_run_context, run_logger
from tasks.paths import validate_path

CHUNK = 256 * 1024


class CopiedFile(BaseModel):
    """One file that reached its destination intact."""

    source: str
    destination: str
    size: int
    sha256: str


class CopyResult(BaseModel):
    """What copy_files / move_files did."""

    files: list[CopiedFile]
    moved: bool


class _Endpoint(Protocol):
    label: str
    roots: Sequence[str]

    def chunks(self, path: str) -> AsyncIterator[bytes]: ...
    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> None: ...
    async def sha256(self, path: str) -> str: ...
    async def realpath(self, path: str) -> str: ...
    async def exists(self, path: str) -> bool: ...
    async def is_dir(self, path: str) -> bool: ...
    async def rename(self, old: str, new: str) -> None: ...
    async def remove(self, path: str) -> None: ...


class _LocalEndpoint:
    """This machine's file system."""

    def __init__(self, roots: Sequence[str]) -> None:
        self.label = "local"
        self.roots = [posixpath.normpath(r) for r in roots]

    async def chunks(self, path: str) -> AsyncIterator[bytes]:
        async with await anyio.open_file(path, "rb") as f:
            while chunk := await f.read(CHUNK):
                yield chunk

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> None:
        async with await anyio.open_file(path, "xb") as f:
            async for chunk in chunks:
                await f.write(chunk)

    async def sha256(self, path: str) -> str:
        digest = hashlib.sha256()
        async for chunk in self.chunks(path):
            digest.update(chunk)
        return digest.hexdigest()

    async def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    async def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    async def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    async def rename(self, old: str, new: str) -> None:
        os.replace(old, new)

    async def remove(self, path: str) -> None:
        os.remove(path)


class _SftpEndpoint:
    """A host reached over SSH: SFTP for data, `sha256sum` (argument-quoted) for checksums."""

    def __init__(
        self, host: HostProfile, conn: asyncssh.SSHClientConnection, sftp: asyncssh.SFTPClient
    ) -> None:
        self.label = host.name
        self.roots = host.file_roots
        self.conn = conn
        self.sftp = sftp

    async def chunks(self, path: str) -> AsyncIterator[bytes]:
        async with self.sftp.open(path, "rb") as f:
            while chunk := await f.read(CHUNK):
                yield chunk

    async def write(self, path: str, chunks: AsyncIterator[bytes]) -> None:
        async with self.sftp.open(path, "xb") as f:
            async for chunk in chunks:
                await f.write(chunk)

    async def sha256(self, path: str) -> str:
        out = await self.conn.run(f"sha256sum -- {shlex.quote(path)}", check=False)
        digest = str(out.stdout or "").split(" ", 1)[0]
        if out.exit_status == 0 and len(digest) == 64:
            return digest
        if out.exit_status == 127:  # no sha256sum on the host: hash by streaming the file back
            hasher = hashlib.sha256()
            async for chunk in self.chunks(path):
                hasher.update(chunk)
            return hasher.hexdigest()
        raise IntegrationError(f"sha256sum of {path} on {self.label} failed: {str(out.stderr)[:300]}")

    async def realpath(self, path: str) -> str:
        return str(await self.sftp.realpath(path))

    async def exists(self, path: str) -> bool:
        return bool(await self.sftp.lexists(path))

    async def is_dir(self, path: str) -> bool:
        return bool(await self.sftp.isdir(path))

    async def rename(self, old: str, new: str) -> None:
        await self.sftp.posix_rename(old, new)

    async def remove(self, path: str) -> None:
        await self.sftp.remove(path)


class _Hashed:
    """Passes chunks through while hashing and counting them."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self.source = source
        self.digest = hashlib.sha256()
        self.size = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.source:
            self.digest.update(chunk)
            self.size += len(chunk)
            yield chunk


async def _open(stack: AsyncExitStack, host: HostProfile | None, local_roots: Sequence[str]) -> _Endpoint:
    if host is None:
        return _LocalEndpoint(local_roots)
    conn = await stack.enter_async_context(await host.connect())
    sftp = await stack.enter_async_context(conn.start_sftp_client())
    return _SftpEndpoint(host, conn, sftp)


async def _resolved_inside(endpoint: _Endpoint, path: str, *, where: str) -> None:
    """Check that `path` with its symlinks followed is still inside the roots (or their resolved forms)."""
    roots = list(endpoint.roots)
    for root in endpoint.roots:
        with contextlib.suppress(OSError, asyncssh.Error):
            roots.append(await endpoint.realpath(root))
    validate_path(await endpoint.realpath(path), roots, where=f"{where} (resolved)")


async def _transfer(
    source: HostProfile | None,
    paths: Sequence[str],
    destination: HostProfile | None,
    destination_dir: str,
    *,
    local_roots: Sequence[str],
    overwrite: bool,
    move: bool,
) -> CopyResult:
    if isinstance(paths, str):
        raise TypeError("paths must be a list of paths")
    if not paths:
        raise ValueError("give at least one source path")
    logger = run_logger()
    # Every path is checked against the roots before any connection is opened.
    src_label, src_roots = (source.name, source.file_roots) if source else ("local", local_roots)
    dst_label, dst_roots = (
        (destination.name, destination.file_roots) if destination else ("local", local_roots)
    )
    target_dir = validate_path(destination_dir, dst_roots, where=f"destination {dst_label}")
    checked = [validate_path(p, src_roots, where=f"source {src_label}") for p in paths]
    copied: list[CopiedFile] = []
    async with AsyncExitStack() as stack:
        src = await _open(stack, source, local_roots)
        dst = await _open(stack, destination, local_roots)
        await _resolved_inside(dst, target_dir, where=f"destination {dst.label}")
        if not await dst.is_dir(target_dir):
            raise ValueError(f"destination {dst.label}: {target_dir} is not a directory")
        for path in checked:
            await _resolved_inside(src, path, where=f"source {src.label}")
        for path in checked:
            name = posixpath.basename(path)
            final = posixpath.join(target_dir, name)
            if not overwrite and await dst.exists(final):
                raise FileExistsError(f"destination {dst.label}: {final} exists (pass overwrite=True)")
            part = posixpath.join(target_dir, f".{name}.alertflow-{uuid.uuid4().hex[:8]}.part")
            tee = _Hashed(src.chunks(path))
            try:
                await dst.write(part, tee.chunks())
                expected, size = tee.digest.hexdigest(), tee.size
                found = await dst.sha256(part)
                if found != expected:
                    raise ChecksumMismatchError(
                        f"{dst.label}:{final}: sha256 {found} != source {src.label}:{path} {expected}; "
                        "the source was left in place"
                    )
                await dst.rename(part, final)
            except BaseException:
                with contextlib.suppress(OSError, asyncssh.Error):
                    await dst.remove(part)
                raise
            if move:
                await src.remove(path)
            logger.info(
                "%s %s:%s -> %s:%s (%d bytes, sha256 %s)",
                "moved" if move else "copied",
                src.label,
                path,
                dst.label,
                final,
                size,
                expected,
            )
            copied.append(
                CopiedFile(
                    source=f"{src.label}:{path}",
                    destination=f"{dst.label}:{final}",
                    size=size,
                    sha256=expected,
                )
            )
    if in_run_context():
        from prefect.artifacts import acreate_table_artifact

        await acreate_table_artifact(
            table=[f.model_dump() for f in copied],
            description=f"{'moved' if move else 'copied'} files, sha256-verified",
        )
    return CopyResult(files=copied, moved=move)


@task(name="copy_files")
async def copy_files(
    source: HostProfile | None,
    paths: Sequence[str],
    destination: HostProfile | None,
    destination_dir: str,
    *,
    local_roots: Sequence[str] = (),
    overwrite: bool = False,
) -> CopyResult:
    """Copy files (absolute paths) from `source` to `destination_dir` on `destination`; None = this machine.

    Each file streams through in chunks, lands under a temporary name, and is renamed into
    place only after its sha256 at the destination matches what was read from the source.
    Every path must be absolute, without '..', and inside the host's `file_roots` (`local_roots`
    for this machine), checked before connecting and again with symlinks followed; empty roots
    allow no path.
    """
    return await _transfer(
        source, paths, destination, destination_dir, local_roots=local_roots, overwrite=overwrite, move=False
    )


@task(name="move_files")
async def move_files(
    source: HostProfile | None,
    paths: Sequence[str],
    destination: HostProfile | None,
    destination_dir: str,
    *,
    local_roots: Sequence[str] = (),
    overwrite: bool = False,
) -> CopyResult:
    """Like copy_files, then delete each source file, but only after its copy was verified."""
    return await _transfer(
        source, paths, destination, destination_dir, local_roots=local_roots, overwrite=overwrite, move=True
    )
