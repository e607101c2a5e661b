"""HostProfile: host-key checking is on unless turned off out loud."""

from __future__ import annotations

import logging

import asyncssh
import pytest
from pydantic import ValidationError

from blocks.credentials import CredentialProfile
from blocks.host import HostProfile

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINfa6aH4WDCpnE6M9znRY+pvw3vHaDadFE4cRPS5/MNS"


def _credential() -> CredentialProfile:
    return CredentialProfile(username="soc", password="pw-not-shown")


def test_host_profile_requires_a_known_key_while_checking_is_on() -> None:
    with pytest.raises(ValidationError, match="known_host_keys is required"):
        HostProfile(name="h", address="127.0.0.1", credential=_credential())


def test_host_profile_rejects_a_malformed_known_key() -> None:
    with pytest.raises(ValidationError, match="not an OpenSSH public key"):
        HostProfile(name="h", address="127.0.0.1", credential=_credential(), known_host_keys=["ssh-rsa nope"])


def test_host_profile_refuses_relative_file_roots() -> None:
    with pytest.raises(ValidationError, match="absolute"):
        HostProfile(
            name="h", address="127.0.0.1", credential=_credential(), known_host_keys=[KEY], file_roots=["srv"]
        )


def test_credential_profile_needs_a_password_or_a_key() -> None:
    with pytest.raises(ValidationError, match="password or a private_key"):
        CredentialProfile(username="soc")


async def test_turning_host_key_checking_off_logs_a_warning(
    caplog: pytest.LogCaptureFixture, unused_tcp_port: int
) -> None:
    host = HostProfile(
        name="lab",
        address="127.0.0.1",
        port=unused_tcp_port,
        credential=_credential(),
        verify_host_key=False,
        connect_timeout_s=5,
    )
    with caplog.at_level(logging.WARNING), pytest.raises(OSError):
        await host.connect()
    assert "host key checking is OFF for host lab" in caplog.text
    assert "pw-not-shown" not in caplog.text


async def test_an_unreadable_private_key_is_reported_without_its_text() -> None:
    credential = CredentialProfile(username="soc", private_key="-----BEGIN garbage-SECRET-----")
    host = HostProfile(name="h", address="127.0.0.1", credential=credential, known_host_keys=[KEY])
    with pytest.raises(ValueError, match="could not be read") as info:
        await host.connect()
    assert "garbage-SECRET" not in str(info.value)
    assert not isinstance(info.value, asyncssh.Error)
