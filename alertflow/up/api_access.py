"""What `alertflow up` needs to serve the REST API: a TLS certificate and a first admin user.

The API takes passwords in every request (HTTP Basic: the STIX-shifter connector knows no
other way), so up serves it over TLS even on loopback, with a self-signed certificate for
127.0.0.1 and localhost made once in the data dir. A client trusts that certificate file
(the connector's `selfSignedCert`, curl's `--cacert`). The first admin, `api-admin`, gets
a random password kept 0600 in the data dir like the Prefect auth string.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
from pathlib import Path

from sqlalchemy import Engine

from alertflow.api import accounts
from alertflow.up.secret_files import API_ADMIN_FILE, ensure_api_admin_password
from alertmodel.errors import ConfigurationError

API_ADMIN = "api-admin"
CERT_FILE = "api-cert.pem"
KEY_FILE = "api-key.pem"
CERT_DAYS = 5 * 365
ACTOR = "alertflow up"


def ensure_api_certificate(data_dir: Path) -> tuple[Path, Path]:
    """(certfile, keyfile) of the API, made once; the key 0600, refused when others can read it."""
    certfile, keyfile = data_dir / CERT_FILE, data_dir / KEY_FILE
    if certfile.exists() and keyfile.exists():
        mode = stat.S_IMODE(keyfile.stat().st_mode)
        if mode & 0o077:
            raise ConfigurationError(
                f"{keyfile} is readable by other users (mode {mode:o}); run `chmod 600 {keyfile}`"
            )
        return certfile, keyfile
    if certfile.exists() or keyfile.exists():
        raise ConfigurationError(
            f"only one of {certfile} and {keyfile} exists; delete the other and a new certificate is made"
        )
    cert_pem, key_pem = self_signed_pem()
    fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    certfile.write_bytes(cert_pem)
    return certfile, keyfile


def self_signed_pem() -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1, ::1 and localhost that is its own issuer, and its key."""
    from cryptography import x509  # loaded only when a certificate is made
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alertflow API (self-signed)")])
    now = datetime.datetime.now(datetime.UTC)
    names = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.DNSName("localhost"),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_api_admin(engine: Engine, data_dir: Path) -> Path:
    """The file holding api-admin's password; the user is created with it the first time.

    When the password file is made anew (deleted by the operator) while the user exists, the
    user's password is set to the new one: deleting the file is how it is reset.
    """
    password_file = data_dir / API_ADMIN_FILE
    made = not password_file.exists()
    password = ensure_api_admin_password(data_dir)
    names = {user["name"] for user in accounts.list_users(engine)}
    if API_ADMIN not in names:
        accounts.add_user(engine, API_ADMIN, role="admin", password=password, tenants=[], actor=ACTOR)
    elif made:
        accounts.update_user(engine, API_ADMIN, password=password, actor=ACTOR)
    return password_file
