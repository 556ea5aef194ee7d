"""Settings: read through one table, problems collected instead of raised, secrets never shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import CLIENT, TENANT

from shared.settings import SPECS, load_settings

ROOT = Path(__file__).resolve().parent.parent
BASE = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT}


def test_defaults() -> None:
    s = load_settings(BASE)
    assert s.problems == ()
    assert s.auth_enabled and s.environment == "development" and not s.production
    assert s.authority == f"https://login.microsoftonline.com/{TENANT}"
    assert s.audiences == (CLIENT, f"api://{CLIENT}")
    assert s.required_scopes == ("user_impersonation",) and s.required_roles == ("MCP.Invoke",)
    assert s.allowed_tenants == frozenset({TENANT})
    assert (s.clock_skew, s.jwks_refresh, s.jwks_min_refresh, s.jwks_max_stale, s.jwks_timeout) == (
        300,
        3600,
        300,
        86400,
        5.0,
    )
    assert s.qualified_scopes == (f"api://{CLIENT}/user_impersonation",)


def test_first_token_audience_is_the_application_id_uri() -> None:
    s = load_settings({**BASE, "TOKEN_AUDIENCE": f"api://{TENANT}/mcp other"})
    assert s.identifier_uri == f"api://{TENANT}/mcp"
    assert s.audiences == (CLIENT, f"api://{CLIENT}", f"api://{TENANT}/mcp", "other")


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"AZURE_TENANT_ID": ""}, "AZURE_TENANT_ID is not set"),
        ({"AZURE_TENANT_ID": "contoso"}, "must be a tenant GUID"),
        ({"AZURE_CLIENT_ID": "my-app"}, "must be the application (client) ID"),
        ({"AZURE_TENANT_ID": "organizations"}, "requires ALLOWED_TENANTS"),
        ({"ALLOWED_TENANTS": "not-a-guid"}, "tenant GUIDs only"),
        ({"ALLOWED_TENANTS": "f8cdef31-a31e-4b4a-93e4-5f571e91255a"}, "set AZURE_TENANT_ID=organizations"),
        ({"ENABLE_AUTH": "maybe"}, "must be true or false"),
        ({"ENABLE_AUTH": "false", "ENVIRONMENT": "production"}, "refused with ENVIRONMENT=production"),
        ({"ENABLE_AUTH": "false", "WEBSITE_INSTANCE_ID": "x"}, "refused in Azure"),
        ({"AZURE_AUTHORITY": "http://login.example.com/t"}, "must be https"),
        ({"JWKS_REFRESH_SECONDS": "-5"}, "JWKS_REFRESH_SECONDS"),
        ({"REQUIRED_SCOPES": ",", "REQUIRED_ROLES": ","}, "no token could ever be authorized"),
    ],
)
def test_problems_are_collected(env: dict[str, str], problem: str) -> None:
    problems = load_settings({**BASE, **env}).problems
    assert any(problem in p for p in problems), problems


def test_multi_tenant_aliases() -> None:
    s = load_settings({**BASE, "AZURE_TENANT_ID": "Organizations", "ALLOWED_TENANTS": TENANT.upper()})
    assert s.problems == () and s.multi_tenant
    assert s.allowed_tenants == frozenset({TENANT})


def test_secret_is_not_in_the_repr() -> None:
    s = load_settings({**BASE, "AZURE_CLIENT_SECRET": "hunter2-secret"})
    assert s.client_secret == "hunter2-secret"
    assert "hunter2-secret" not in repr(s)


def test_hosts_include_the_site_name() -> None:
    s = load_settings({**BASE, "WEBSITE_HOSTNAME": "App.AzureWebsites.net", "ALLOWED_HOSTS": "mcp.contoso.com"})
    assert s.allowed_hosts == ("mcp.contoso.com", "app.azurewebsites.net")
    assert s.allowed_origins == ("https://app.azurewebsites.net",)


def test_every_setting_is_documented_in_the_readme_and_the_example() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "local.settings.json.example").read_text()
    for spec in SPECS:
        assert re.search(rf"\|\s*`{spec.name}`\s*\|", readme), f"{spec.name} missing from the README settings table"
        if not spec.platform:
            assert f'"{spec.name}"' in example, f"{spec.name} missing from local.settings.json.example"
