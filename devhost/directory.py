"""Who the local authority knows: the API it issues tokens for, the client applications, the test users.

Entra keeps this in a tenant's app registrations; here it is data. devhost builds it from its state
file (`.devhost/local-authority.json`), where more clients can be listed:

    "clients": [{"client_id": "...", "name": "My app", "redirect_uris": ["http://localhost/callback"],
                 "client_secret": "...", "jwks": [{"kty": "RSA", ...}], "roles": ["MCP.Invoke"]}]

A client with a secret or keys is confidential: it may use client credentials, and must prove itself
on every token request unless `"public_client": true` (Entra's `allowPublicClient`) lets it also act as
a public client. One with neither is public: PKCE alone protects its codes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
# Scopes the API exposes. `Profile.Read` is the extra delegated scope a tool may step up to.
API_SCOPES = ("user_impersonation", "Profile.Read")
# What `.default` grants a user: the statically consented scopes, not the step-up ones.
DEFAULT_SCOPES = ("user_impersonation",)
VSCODE_CLIENT_ID = "aebc6443-996d-45c2-90f0-388ff96faa56"
AZURE_CLIENT_CLI_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
# The MCP Inspector's callbacks (its proxy on 6274), and what VS Code and MSAL use.
INSPECTOR_REDIRECTS = ("http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug")
VSCODE_REDIRECTS = ("http://127.0.0.1/", "http://localhost/", "https://vscode.dev/redirect")
# Swagger UI on /docs (its Authorize button), wherever devhost listens on loopback.
DOCS_REDIRECTS = ("http://127.0.0.1/docs/oauth2-redirect.html", "http://localhost/docs/oauth2-redirect.html")
USERNAME = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,48}$")


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...] = ()
    client_secret: str | None = field(default=None, repr=False)
    jwks: tuple[dict[str, Any], ...] = ()
    roles: tuple[str, ...] = ()
    # Entra's `allowPublicClient`: may it redeem codes without a credential? By default only if it has none.
    public_client: bool | None = None

    @property
    def confidential(self) -> bool:
        return bool(self.client_secret or self.jwks)

    @property
    def allows_public_flows(self) -> bool:
        return not self.confidential if self.public_client is None else self.public_client

    def allows_redirect(self, redirect_uri: str) -> bool:
        return any(redirect_matches(registered, redirect_uri) for registered in self.redirect_uris)

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Client:
        if not isinstance(entry, Mapping) or not entry.get("client_id"):
            raise ValueError(f"each entry of `clients` needs a client_id, and {entry!r} has none")
        return cls(
            client_id=str(entry["client_id"]).lower(),
            name=str(entry.get("name") or entry["client_id"]),
            redirect_uris=tuple(str(u) for u in entry.get("redirect_uris") or ()),
            client_secret=entry.get("client_secret") or None,
            jwks=tuple(dict(k) for k in entry.get("jwks") or ()),
            roles=tuple(str(r) for r in entry.get("roles") or ()),
            public_client=None if entry.get("public_client") is None else bool(entry["public_client"]),
        )


@dataclass(frozen=True)
class User:
    username: str
    name: str
    oid: str


def redirect_matches(registered: str, given: str) -> bool:
    """Exact match, except that a loopback `http` URI matches on any port (RFC 8252 section 7.3, as Entra does)."""
    if registered == given:
        return True
    reg, got = urlsplit(registered), urlsplit(given)
    if reg.scheme != "http" or got.scheme != "http" or got.fragment or reg.hostname not in LOOPBACK_HOSTS:
        return False
    try:
        got.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        return False
    return (reg.hostname, reg.path or "/", reg.query) == (got.hostname, got.path or "/", got.query) and not (
        got.username or got.password
    )


@dataclass(frozen=True)
class Directory:
    """One tenant with one API registration, its known clients and its test users."""

    tenant: str
    api_client_id: str
    # Application ID URIs besides `api://<client-id>`: devhost adds its MCP URLs, so the `resource`
    # MCP clients send (RFC 8707) names the API, as it must with Entra.
    extra_identifier_uris: tuple[str, ...] = ()
    clients: Mapping[str, Client] = field(default_factory=dict)
    users: tuple[User, ...] = ()
    token_version: str = "2.0"  # noqa: S105 - a version number, not a secret
    scopes: tuple[str, ...] = API_SCOPES

    @property
    def identifier_uris(self) -> tuple[str, ...]:
        return (f"api://{self.api_client_id}", *self.extra_identifier_uris)

    def is_api_resource(self, resource: str) -> bool:
        """Whether `resource` names the API: its client id or one of its identifier URIs."""
        wanted = resource.rstrip("/").casefold()
        return wanted == self.api_client_id or any(u.rstrip("/").casefold() == wanted for u in self.identifier_uris)

    def client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id.lower())

    def user(self, username: str) -> User | None:
        """A listed user, or one made up for a typed username (any well-formed one signs in)."""
        for known in self.users:
            if known.username.casefold() == username.casefold():
                return known
        if not USERNAME.match(username):
            return None
        name = username.split("@")[0].replace(".", " ").title()
        return User(username, name, str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.tenant}/{username.casefold()}")))

    def api_scope(self, name: str) -> str | None:
        """The API's spelling of a scope name, or None if it exposes no such scope."""
        return next((s for s in self.scopes if s.casefold() == name.casefold()), None)


def local_directory(
    tenant: str,
    api_client_id: str,
    *,
    extra_identifier_uris: Iterable[str] = (),
    listed_clients: Iterable[Mapping[str, Any]] = (),
    api_client_secret: str | None = None,
    token_version: str = "2.0",  # noqa: S107 - a version number, not a secret
    api_redirect_uris: Iterable[str] = (),
) -> Directory:
    """The directory devhost serves: the API's own client, well-known public clients, and the listed ones."""
    api_client_id = api_client_id.lower()
    own = Client(
        api_client_id,
        "Local MCP API",
        redirect_uris=(*INSPECTOR_REDIRECTS, *VSCODE_REDIRECTS, *DOCS_REDIRECTS, *api_redirect_uris),
        client_secret=api_client_secret,
        roles=("MCP.Invoke",),
        public_client=True,
    )
    clients = {
        c.client_id: c
        for c in (
            own,
            Client(VSCODE_CLIENT_ID, "Visual Studio Code", redirect_uris=VSCODE_REDIRECTS),
            Client(AZURE_CLIENT_CLI_ID, "Microsoft Azure CLI", redirect_uris=("http://localhost/",)),
            *(Client.from_dict(entry) for entry in listed_clients),
        )
    }
    users = (
        # The same oid as `python -m devhost token` mints, so both kinds of tokens are one person.
        User("local.user@example.test", "Local User", str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{tenant}/user"))),
        User("adele.vance@example.test", "Adele Vance", str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{tenant}/adele"))),
    )
    return Directory(
        tenant=tenant,
        api_client_id=api_client_id,
        extra_identifier_uris=tuple(extra_identifier_uris),
        clients=clients,
        users=users,
        token_version=token_version,
    )
