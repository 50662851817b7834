"""The ldap provider's config, and its server URLs parsed into connection targets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import parse_dn
from pydantic import Field, SecretStr, field_validator, model_validator

from positron.provider import ProviderConfig, Secret

_ATTRIBUTE = r"^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)$"  # an attribute name or OID: goes into filters unescaped


@dataclass(frozen=True, slots=True)
class Target:
    """One server. ``label`` (scheme://host:port) is rebuilt from parsed parts, so it is safe in messages."""

    label: str
    host: str
    port: int
    ssl: bool

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError("a server is an ldap://host[:port] or ldaps://host[:port] URL")
        if parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("a server URL has no credentials, path or query")
        port = parts.port or (636 if scheme == "ldaps" else 389)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return cls(f"{scheme}://{host}:{port}", parts.hostname, port, scheme == "ldaps")


class LdapConfig(ProviderConfig):
    servers: list[str] = Field(min_length=1, description="ldap:// or ldaps:// URLs, tried in this order")
    bind_user: str = Field(min_length=1, description="Bind DN or UPN (SIMPLE); DOMAIN\\user (NTLM)")
    bind_password: Secret
    authentication: Literal["SIMPLE", "NTLM"] = "SIMPLE"
    base_dn: str = Field(description="Where users and groups are searched, e.g. DC=corp,DC=example")
    user_attribute: str = Field(
        default="sAMAccountName", pattern=_ATTRIBUTE, description="The account name attribute (uid for OpenLDAP)"
    )
    user_filter: str = Field(default="(objectClass=person)", description="ANDed into every user search")
    connect_timeout_s: float | None = Field(default=None, gt=0, le=120, description="Default: timeout_s")
    receive_timeout_s: float | None = Field(
        default=None, gt=0, le=120, description="Default: timeout_s; rounded up to whole seconds"
    )
    tls: Literal["none", "ldaps", "starttls"] = "starttls"
    ca_file: str | None = Field(default=None, description="PEM CA bundle to verify servers; default: system CAs")
    nested_groups: bool = Field(default=False, description="Add nested groups (AD's LDAP_MATCHING_RULE_IN_CHAIN)")
    failover_recheck_s: float = Field(
        default=30.0, ge=0, le=3600, description="How long a failed server is tried only after the others"
    )

    # Field checks are field validators, so a validation error never shows the other fields (the password).
    @field_validator("servers")
    @classmethod
    def _servers(cls, servers: list[str]) -> list[str]:
        for url in servers:
            Target.parse(url)
        return servers

    @field_validator("bind_password")
    @classmethod
    def _password(cls, password: SecretStr) -> SecretStr:
        if not len(password):
            raise ValueError("bind_password is empty (an empty simple bind is an anonymous bind)")
        return password

    @field_validator("base_dn")
    @classmethod
    def _base_dn(cls, base_dn: str) -> str:
        try:
            parse_dn(base_dn)
        except LDAPException:
            raise ValueError("base_dn is not a valid DN") from None
        return base_dn

    @field_validator("user_filter")
    @classmethod
    def _user_filter(cls, user_filter: str) -> str:
        if not _balanced(user_filter):
            raise ValueError("user_filter must be one parenthesized LDAP filter, e.g. (objectClass=person)")
        return user_filter

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, ca_file: str | None) -> str | None:
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"ca_file {ca_file} is not a readable file")
        return ca_file

    @model_validator(mode="after")
    def _consistent(self) -> LdapConfig:
        if any(Target.parse(url).ssl != (self.tls == "ldaps") for url in self.servers):
            raise ValueError("use ldaps:// URLs exactly when tls is ldaps")
        if self.authentication == "NTLM" and "\\" not in self.bind_user:
            raise ValueError("NTLM needs bind_user as DOMAIN\\user")
        return self


def _balanced(text: str) -> bool:
    depth = 0
    for char in re.sub(r"\\.", "", text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0 and text.startswith("(") and text.endswith(")")
