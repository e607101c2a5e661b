"""A host playbooks may reach over SSH/SFTP, with its pinned host keys."""

from __future__ import annotations

import posixpath

import asyncssh
from prefect.blocks.core import Block
from pydantic import Field, field_validator, model_validator

from blocks.credentials import CredentialProfile
from blocks.run_context import run_logger


class HostProfile(Block):
    """A remote host reached over SSH; its host key is checked unless explicitly turned off."""

    _block_type_name = "alertflow Host Profile"
    _description = "An SSH/SFTP host: address, port, login credential and pinned host keys."

    name: str = Field(description="Short name used in results and logs, e.g. 'web-01'.")
    address: str = Field(description="DNS name or IP address.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    credential: CredentialProfile = Field(description="The login used on this host.")
    known_host_keys: list[str] = Field(
        default_factory=list,
        description="Pinned host public keys, one '<type> <base64>' per entry "
        "(e.g. the first two fields of /etc/ssh/ssh_host_ed25519_key.pub).",
    )
    verify_host_key: bool = Field(
        default=True,
        description="Check the host key against known_host_keys. Turning this off allows "
        "man-in-the-middle attacks and logs a warning on every connection.",
    )
    file_roots: list[str] = Field(
        default_factory=list,
        description="Absolute directories file jobs (copy_files, move_files, malware-triage) may read "
        "or write on this host, symlinks followed. Empty (the default): no file access at all.",
    )
    connect_timeout_s: float = Field(default=15, gt=0, description="Seconds to wait for the SSH login.")

    @field_validator("known_host_keys")
    @classmethod
    def _keys_parse(cls, keys: list[str]) -> list[str]:
        for key in keys:
            try:
                asyncssh.import_public_key(key)
            except (asyncssh.KeyImportError, ValueError) as exc:
                raise ValueError(f"known_host_keys entry {key[:40]!r} is not an OpenSSH public key") from exc
        return keys

    @field_validator("file_roots")
    @classmethod
    def _roots_absolute(cls, roots: list[str]) -> list[str]:
        for root in roots:
            if not posixpath.isabs(root):
                raise ValueError(f"file_roots entry {root!r} must be an absolute path")
        return [posixpath.normpath(root) for root in roots]

    @model_validator(mode="after")
    def _keys_when_checking(self) -> HostProfile:
        if self.verify_host_key and not self.known_host_keys:
            raise ValueError(
                "known_host_keys is required when verify_host_key is on; "
                "add the host's public key or set verify_host_key=False explicitly"
            )
        return self

    async def connect(self) -> asyncssh.SSHClientConnection:
        """Open an SSH connection with only this profile's settings (no ~/.ssh, no agent)."""
        cred = self.credential
        keys = None
        if cred.private_key is not None:
            passphrase = cred.passphrase.get_secret_value() if cred.passphrase else None
            try:
                keys = [asyncssh.import_private_key(cred.private_key.get_secret_value(), passphrase)]
            except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
                # The library message never includes key material; keep only its type.
                raise ValueError(
                    f"the private key of credential {cred.username!r} for host {self.name} "
                    f"could not be read ({type(exc).__name__})"
                ) from None
        if self.verify_host_key:
            known_hosts: object = ([asyncssh.import_public_key(k) for k in self.known_host_keys], [], [])
        else:
            run_logger("alertflow.blocks.host").warning(
                "host key checking is OFF for host %s (%s:%s): the connection is open to "
                "man-in-the-middle attacks",
                self.name,
                self.address,
                self.port,
            )
            known_hosts = None
        return await asyncssh.connect(
            self.address,
            port=self.port,
            username=cred.username,
            password=cred.password.get_secret_value() if cred.password else None,
            client_keys=keys,
            known_hosts=known_hosts,
            agent_path=None,
            config=[],
            connect_timeout=self.connect_timeout_s,
            login_timeout=self.connect_timeout_s,
        )
