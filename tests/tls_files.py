"""A self-signed certificate for 127.0.0.1, written as PEM files, for the HTTPS tests: the one
`alertflow up` makes for its API, so the tests trust what users get."""

from __future__ import annotations

from pathlib import Path

from alertflow.up.api_access import self_signed_pem


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(certfile, keyfile) of a certificate for 127.0.0.1, ::1 and localhost."""
    cert_pem, key_pem = self_signed_pem()
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert_pem)
    keyfile.write_bytes(key_pem)
    keyfile.chmod(0o600)
    return certfile, keyfile
