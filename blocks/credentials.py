"""Who playbooks log in as: a user name with a password and/or a private key."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator


class CredentialProfile(Block):
    """A login for remote hosts: user name plus password and/or private key (all secrets masked)."""

    _block_type_name = "alertflow Credential Profile"
    _description = "A user name with a password and/or an OpenSSH private key, for SSH and SFTP jobs."

    username: str = Field(description="Login name on the remote host.")
    password: SecretStr | None = Field(
        default=None, description="Password, when the host accepts password logins."
    )
    private_key: SecretStr | None = Field(
        default=None,
        description="Private key in OpenSSH or PEM format (the whole file's text).",
    )
    passphrase: SecretStr | None = Field(
        default=None, description="Passphrase that decrypts the private key, if it is encrypted."
    )

    @model_validator(mode="after")
    def _needs_a_secret(self) -> CredentialProfile:
        if self.password is None and self.private_key is None:
            raise ValueError("a credential profile needs a password or a private_key")
        if self.passphrase is not None and self.private_key is None:
            raise ValueError("passphrase is only used with a private_key; set private_key too")
        return self
