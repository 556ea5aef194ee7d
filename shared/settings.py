"""Every setting the app reads, in one table, and the frozen `Settings` built from it.

The table (`SPECS`) is the only place an environment variable name appears: the loader reads
through it, `/health` reports against it, and the infrastructure tests compare the Bicep app
settings with it. Problems are collected rather than raised, because an exception at import
time hides every function of the app in Azure; protected routes answer 503 while any exist.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MULTI_TENANT_ALIASES = frozenset({"organizations", "common"})
PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class SettingSpec:
    name: str
    default: str
    doc: str
    # Must be set in production (ENVIRONMENT=production or running in Azure).
    production: bool = False
    # Never reported, logged or echoed.
    secret: bool = False
    # Set by the Azure Functions platform, never by us.
    platform: bool = False


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("AZURE_TENANT_ID", "", "Directory (tenant) ID, or `organizations`/`common` for multi-tenant.", True),
    SettingSpec("AZURE_CLIENT_ID", "", "Application (client) ID of the API's app registration.", True),
    SettingSpec(
        "AZURE_CLIENT_SECRET", "", "Only for on-behalf-of calls outside Azure; never used to validate.", secret=True
    ),
    SettingSpec("AZURE_AUTHORITY", "", "Authority URL; default `https://login.microsoftonline.com/<tenant>`."),
    SettingSpec(
        "TOKEN_AUDIENCE", "", "Extra accepted audiences (space-separated); the first is the Application ID URI."
    ),
    SettingSpec("TOKEN_ISSUER", "", "Exact accepted issuers (space-separated), replacing the discovered ones."),
    SettingSpec("ALLOWED_TENANTS", "", "Tenant GUIDs whose tokens are accepted; unset means the home tenant only."),
    SettingSpec("REQUIRED_SCOPES", "user_impersonation", "Delegated scopes; a user token needs one of them.", True),
    SettingSpec("REQUIRED_ROLES", "MCP.Invoke", "App roles; an app-only token needs one of them.", True),
    SettingSpec(
        "TOOL_PERMISSIONS",
        "",
        "Per-tool overrides, `tool=scope:NAME role:NAME; tool2=...` (README, Per-tool permissions).",
    ),
    SettingSpec("ENABLE_AUTH", "true", "`false` turns validation off (refused in production and in Azure).", True),
    SettingSpec("ENVIRONMENT", "development", "`production` forbids turning authentication off.", True),
    SettingSpec("CLOCK_SKEW_SECONDS", "300", "Leeway for `exp`, `nbf` and `iat`."),
    SettingSpec("JWKS_REFRESH_SECONDS", "3600", "Signing keys are refreshed this often."),
    SettingSpec("JWKS_MIN_REFRESH_SECONDS", "300", "An unknown `kid` refreshes the keys at most this often."),
    SettingSpec("JWKS_MAX_STALE_SECONDS", "86400", "Last known good keys serve this long while refreshes fail."),
    SettingSpec("JWKS_TIMEOUT_SECONDS", "5", "HTTP timeout for discovery and key fetches."),
    SettingSpec("ALLOWED_HOSTS", "", "Extra Host values the MCP endpoint accepts (localhost and the site always)."),
    SettingSpec("ALLOWED_ORIGINS", "", "Extra Origin values the MCP endpoint accepts."),
    SettingSpec("MANAGED_IDENTITY_CLIENT_ID", "", "User-assigned identity used as the app's federated credential."),
    SettingSpec(
        "TELEMETRY_TENANT_ATTRIBUTE",
        "false",
        "`true` adds the caller's tenant id to the auth metrics (an operator's choice: it is an identifier).",
    ),
    SettingSpec("GRAPH_URL", "https://graph.microsoft.com", "Microsoft Graph base URL for on-behalf-of calls."),
    SettingSpec("GRAPH_SCOPE", "", "Scope of the on-behalf-of token for Graph; default `<GRAPH_URL>/.default`."),
    SettingSpec(
        "OAUTH_PROXY", "false", "`true`: this app is the authorization server MCP clients see, Entra behind it."
    ),
    SettingSpec(
        "OAUTH_PROXY_TABLE_ENDPOINT", "", "Table service URL of the proxy's state, reached with the managed identity."
    ),
    SettingSpec(
        "OAUTH_PROXY_STORAGE", "", "A storage connection string instead (Azurite locally); not in Azure.", secret=True
    ),
    SettingSpec("OAUTH_PROXY_TABLE", "mcpoauth", "Table holding registrations, transactions, codes and consents."),
    SettingSpec("OAUTH_PROXY_REGISTRATIONS_PER_MINUTE", "30", "Dynamic client registrations accepted per minute."),
    SettingSpec(
        "OAUTH_PROXY_CIMD_LOOPBACK", "false", "Development only: fetch client metadata documents from loopback hosts."
    ),
    SettingSpec("WEBSITE_HOSTNAME", "", "The site's host name.", platform=True),
    SettingSpec(
        "WEBSITE_INSTANCE_ID", "", "Set on every Azure instance; its presence means 'in Azure'.", platform=True
    ),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True)
class ToolPermission:
    """What one tool needs besides the server-wide REQUIRED_SCOPES / REQUIRED_ROLES.

    A user's token must carry every scope, an app's token every role. A tool that names only
    scopes is closed to app-only callers, and one that names only roles to users: fail closed.
    """

    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    authority: str
    audiences: tuple[str, ...]
    # The Application ID URI that qualifies scope names for clients.
    identifier_uri: str
    issuers: tuple[str, ...]
    allowed_tenants: frozenset[str]
    required_scopes: tuple[str, ...]
    required_roles: tuple[str, ...]
    # TOOL_PERMISSIONS: tool name -> what it needs instead of what its definition declares.
    tool_permissions: tuple[tuple[str, ToolPermission], ...]
    auth_enabled: bool
    environment: str
    in_azure: bool
    clock_skew: int
    jwks_refresh: int
    jwks_min_refresh: int
    jwks_max_stale: int
    jwks_timeout: float
    allowed_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    managed_identity_client_id: str
    graph_url: str
    graph_scope: str
    website_hostname: str
    telemetry_tenant_attribute: bool
    problems: tuple[str, ...]
    # The OAuth authorization facade over Entra (shared/facade), off unless OAUTH_PROXY=true.
    oauth_proxy: bool = False
    proxy_table_endpoint: str = ""
    proxy_storage: str = field(default="", repr=False)
    proxy_table: str = "mcpoauth"
    proxy_registrations_per_minute: int = 30
    proxy_cimd_loopback: bool = False

    @property
    def multi_tenant(self) -> bool:
        return self.tenant_id.lower() in MULTI_TENANT_ALIASES

    @property
    def production(self) -> bool:
        return self.environment == "production" or self.in_azure

    @property
    def qualified_scopes(self) -> tuple[str, ...]:
        return tuple(f"{self.identifier_uri}/{scope}" for scope in self.required_scopes)

    @property
    def mode(self) -> Literal["on", "off", "misconfigured"]:
        if self.problems:
            return "misconfigured"
        return "on" if self.auth_enabled else "off"


def _words(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value.replace(",", " ").split()))


_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_PERMISSION = re.compile(r"^(scope|role):([A-Za-z0-9_.-]{1,120})$")


def _tool_permissions(value: str, problems: list[str]) -> tuple[tuple[str, ToolPermission], ...]:
    """TOOL_PERMISSIONS: `;`-separated `tool=item item`, each item `scope:NAME` or `role:NAME`; `tool=` alone
    leaves the tool the server-wide permission only."""
    table: dict[str, ToolPermission] = {}
    for entry in filter(None, (part.strip() for part in value.split(";"))):
        name, equals, items = (part.strip() for part in entry.partition("="))
        if not equals or not _TOOL_NAME.match(name):
            problems.append(f"TOOL_PERMISSIONS: {entry[:80]!r} is not `tool=scope:NAME role:NAME ...`")
            continue
        if name in table:
            problems.append(f"TOOL_PERMISSIONS names {name} twice")
            continue
        matches = [(item, _PERMISSION.match(item)) for item in _words(items)]
        if bad := [item for item, match in matches if match is None]:
            problems.append(f"TOOL_PERMISSIONS: {bad[0][:80]!r} (for {name}) must be scope:NAME or role:NAME")
            continue
        found = [match.groups() for _, match in matches if match is not None]
        table[name] = ToolPermission(
            scopes=tuple(v for kind, v in found if kind == "scope"),
            roles=tuple(v for kind, v in found if kind == "role"),
        )
    return tuple(table.items())


def _seconds(raw: Mapping[str, str], name: str, problems: list[str], minimum: int = 1) -> int:
    value = raw[name]
    if value.isdigit() and int(value) >= minimum:
        return int(value)
    problems.append(f"{name} must be a whole number of seconds, at least {minimum}, not {value!r}")
    return int(SPEC_BY_NAME[name].default)


def _flag(raw: Mapping[str, str], name: str, problems: list[str], default: bool = True) -> bool:
    """`default` is what a bad value reads as, after it is reported: the safe side of that setting."""
    value = raw[name].strip().lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off"}:
        return False
    problems.append(f"{name} must be true or false, not {raw[name]!r}")
    return default


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_fetch_url(url: str) -> str | None:
    """Why `url` may not be fetched for keys or discovery, or None: https, or http on loopback only."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return None
    return f"{url!r} must be https (plain http is accepted on a loopback host only)"


def load_settings(environ: Mapping[str, str]) -> Settings:
    raw = {spec.name: environ.get(spec.name, "").strip() or spec.default for spec in SPECS}
    problems: list[str] = []

    auth_enabled = _flag(raw, "ENABLE_AUTH", problems)
    environment = raw["ENVIRONMENT"].lower()
    in_azure = bool(raw["WEBSITE_INSTANCE_ID"])
    tenant_id, client_id = raw["AZURE_TENANT_ID"], raw["AZURE_CLIENT_ID"]
    multi_tenant = tenant_id.lower() in MULTI_TENANT_ALIASES
    allowed_tenants = frozenset(t.lower() for t in _words(raw["ALLOWED_TENANTS"]))

    if not auth_enabled and (environment == "production" or in_azure):
        where = "in Azure" if in_azure else "with ENVIRONMENT=production"
        problems.append(f"ENABLE_AUTH=false is refused {where}: authentication cannot be turned off there")
    if auth_enabled:
        if not tenant_id:
            problems.append("AZURE_TENANT_ID is not set")
        elif not (GUID.match(tenant_id) or multi_tenant):
            problems.append("AZURE_TENANT_ID must be a tenant GUID, `organizations` or `common`")
        if not client_id:
            problems.append("AZURE_CLIENT_ID is not set")
        elif not GUID.match(client_id):
            problems.append("AZURE_CLIENT_ID must be the application (client) ID, a GUID")
        if multi_tenant and not allowed_tenants:
            problems.append(f"AZURE_TENANT_ID={tenant_id} requires ALLOWED_TENANTS (the tenant GUIDs to accept)")
        if any(not GUID.match(t) for t in allowed_tenants):
            problems.append("ALLOWED_TENANTS must list tenant GUIDs only")
        if GUID.match(tenant_id) and allowed_tenants - {tenant_id.lower()}:
            problems.append("ALLOWED_TENANTS names other tenants: set AZURE_TENANT_ID=organizations to accept them")

    authority = (raw["AZURE_AUTHORITY"] or f"{PUBLIC_AUTHORITY_HOST}/{tenant_id}").rstrip("/")
    if auth_enabled and (reason := check_fetch_url(authority)):
        problems.append(f"AZURE_AUTHORITY {reason}")

    extra_audiences = _words(raw["TOKEN_AUDIENCE"])
    identifier_uri = extra_audiences[0] if extra_audiences else f"api://{client_id.lower()}"

    required_scopes = _words(raw["REQUIRED_SCOPES"])
    required_roles = _words(raw["REQUIRED_ROLES"])
    if auth_enabled and not (required_scopes or required_roles):
        problems.append("REQUIRED_SCOPES and REQUIRED_ROLES are both empty: no token could ever be authorized")

    hostname = raw["WEBSITE_HOSTNAME"].lower()
    oauth_proxy = _flag(raw, "OAUTH_PROXY", problems)
    cimd_loopback = _flag(raw, "OAUTH_PROXY_CIMD_LOOPBACK", problems) if oauth_proxy else False
    if oauth_proxy:
        if not auth_enabled:
            problems.append("OAUTH_PROXY=true needs authentication on (ENABLE_AUTH=true)")
        if not (raw["OAUTH_PROXY_TABLE_ENDPOINT"] or raw["OAUTH_PROXY_STORAGE"]):
            problems.append("OAUTH_PROXY=true needs OAUTH_PROXY_TABLE_ENDPOINT (or OAUTH_PROXY_STORAGE locally)")
        elif raw["OAUTH_PROXY_TABLE_ENDPOINT"] and (reason := check_fetch_url(raw["OAUTH_PROXY_TABLE_ENDPOINT"])):
            problems.append(f"OAUTH_PROXY_TABLE_ENDPOINT {reason}")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,62}", raw["OAUTH_PROXY_TABLE"]):
            problems.append("OAUTH_PROXY_TABLE must be a table name: a letter, then 2-62 letters or digits")
        if cimd_loopback and (environment == "production" or in_azure):
            problems.append("OAUTH_PROXY_CIMD_LOOPBACK=true is refused in production and in Azure")
    return Settings(
        tenant_id=tenant_id.lower() if GUID.match(tenant_id) or multi_tenant else tenant_id,
        client_id=client_id.lower(),
        client_secret=raw["AZURE_CLIENT_SECRET"],
        authority=authority,
        audiences=tuple(dict.fromkeys((client_id.lower(), f"api://{client_id.lower()}", *extra_audiences))),
        identifier_uri=identifier_uri,
        issuers=_words(raw["TOKEN_ISSUER"]),
        allowed_tenants=allowed_tenants or frozenset({tenant_id.lower()}),
        required_scopes=required_scopes,
        required_roles=required_roles,
        tool_permissions=_tool_permissions(raw["TOOL_PERMISSIONS"], problems),
        auth_enabled=auth_enabled,
        environment=environment,
        in_azure=in_azure,
        clock_skew=_seconds(raw, "CLOCK_SKEW_SECONDS", problems, minimum=0),
        jwks_refresh=_seconds(raw, "JWKS_REFRESH_SECONDS", problems),
        jwks_min_refresh=_seconds(raw, "JWKS_MIN_REFRESH_SECONDS", problems),
        jwks_max_stale=_seconds(raw, "JWKS_MAX_STALE_SECONDS", problems),
        jwks_timeout=float(_seconds(raw, "JWKS_TIMEOUT_SECONDS", problems)),
        allowed_hosts=_words(raw["ALLOWED_HOSTS"]) + ((hostname,) if hostname else ()),
        allowed_origins=_words(raw["ALLOWED_ORIGINS"]) + ((f"https://{hostname}",) if hostname else ()),
        managed_identity_client_id=raw["MANAGED_IDENTITY_CLIENT_ID"],
        graph_url=raw["GRAPH_URL"].rstrip("/"),
        graph_scope=raw["GRAPH_SCOPE"] or f"{raw['GRAPH_URL'].rstrip('/')}/.default",
        website_hostname=hostname,
        telemetry_tenant_attribute=_flag(raw, "TELEMETRY_TENANT_ATTRIBUTE", problems, default=False),
        oauth_proxy=oauth_proxy,
        proxy_table_endpoint=raw["OAUTH_PROXY_TABLE_ENDPOINT"].rstrip("/"),
        proxy_storage=raw["OAUTH_PROXY_STORAGE"],
        proxy_table=raw["OAUTH_PROXY_TABLE"],
        proxy_registrations_per_minute=_seconds(raw, "OAUTH_PROXY_REGISTRATIONS_PER_MINUTE", problems),
        proxy_cimd_loopback=cimd_loopback,
        problems=tuple(problems),
    )
