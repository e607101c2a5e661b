"""The REST API's certificate and first admin that `alertflow up` makes in the data dir."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from alertflow.api.accounts import sign_in_with_password
from alertflow.up.api_access import API_ADMIN, ensure_api_admin, ensure_api_certificate
from alertflow.up.secret_files import API_ADMIN_FILE
from alertmodel import migrate
from alertmodel.engine import make_engine
from alertmodel.errors import ConfigurationError


def test_the_certificate_names_the_loopback_addresses_and_is_made_once(tmp_path: Path) -> None:
    certfile, keyfile = ensure_api_certificate(tmp_path)
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(certfile.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(certfile, keyfile)  # the key belongs to the certificate
    ssl.create_default_context(cafile=str(certfile))  # and a client can trust it as it is
    before = certfile.read_bytes(), keyfile.read_bytes()
    assert ensure_api_certificate(tmp_path) == (certfile, keyfile)
    assert (certfile.read_bytes(), keyfile.read_bytes()) == before


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    _, keyfile = ensure_api_certificate(tmp_path)
    keyfile.chmod(0o640)
    with pytest.raises(ConfigurationError, match=r"readable by other users \(mode 640\); run `chmod 600"):
        ensure_api_certificate(tmp_path)


def test_a_certificate_without_its_key_is_refused_not_replaced(tmp_path: Path) -> None:
    _, keyfile = ensure_api_certificate(tmp_path)
    keyfile.unlink()
    with pytest.raises(ConfigurationError, match="only one of"):
        ensure_api_certificate(tmp_path)


def test_api_admin_is_created_once_with_the_password_of_a_0600_file_and_reset_by_deleting_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'alertflow.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        password_file = ensure_api_admin(engine, tmp_path)
        assert password_file == tmp_path / API_ADMIN_FILE
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        first = password_file.read_text().strip()
        assert len(first) >= 30
        principal = sign_in_with_password(engine, API_ADMIN, first)
        assert principal is not None and principal.role == "admin" and principal.tenants == ()
        assert ensure_api_admin(engine, tmp_path) == password_file
        assert password_file.read_text().strip() == first

        password_file.unlink()
        ensure_api_admin(engine, tmp_path)
        second = password_file.read_text().strip()
        assert second != first
        assert sign_in_with_password(engine, API_ADMIN, second) is not None
        assert sign_in_with_password(engine, API_ADMIN, first) is None

        password_file.chmod(0o644)
        with pytest.raises(ConfigurationError, match="readable by other users"):
            ensure_api_admin(engine, tmp_path)
    finally:
        engine.dispose()
