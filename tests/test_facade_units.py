"""The OAuth proxy's parts on their own: its settings, off by default, the PRM naming it when on, sealed rows,
redirect URI matching, CIMD cache lifetimes, and the timer that purges expired rows (against Azurite)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from support import body_of, call, configure, start_devhost

import function_app
from devhost import azurite
from shared.facade import seal
from shared.facade.cimd import cache_seconds, parse_document
from shared.facade.clients import redirect_matches
from shared.facade.errors import OAuthError
from shared.settings import load_settings

TENANT = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
CLIENT = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2910"
BASE = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_CLIENT_SECRET": "local-secret"}


async def test_the_proxy_is_off_by_default_and_its_routes_answer_404() -> None:
    assert not load_settings(BASE).oauth_proxy
    configure(BASE)
    for name, method in (("authorization_server_metadata", "GET"), ("register", "POST"), ("token", "POST")):
        assert (await call(name, method, "/x")).status_code == 404


async def test_a_page_of_another_origin_may_read_every_answer_of_the_facade() -> None:
    """Discovery, registration and the token endpoint answer with CORS headers, refusals and preflights
    included, so a browser-based client can read why it was refused; /authorize is a page to open, not read."""
    configure(BASE)
    off = await call("register", "POST", "/register")
    assert off.status_code == 404 and off.headers["Access-Control-Allow-Origin"] == "*"
    configure({**BASE, "OAUTH_PROXY": "true", "OAUTH_PROXY_STORAGE": "UseDevelopmentStorage=true"})
    preflight = await call("token", "OPTIONS", "/token")
    assert preflight.status_code == 204 and preflight.get_body() == b""
    assert "MCP-Protocol-Version" in preflight.headers["Access-Control-Allow-Headers"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = await call("token", "POST", "/token", headers=form, body=b"grant_type=password")
    assert refused.status_code == 400 and body_of(refused)["error"] == "unsupported_grant_type"
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    page = await call("authorize", "GET", "/authorize")
    assert "Access-Control-Allow-Origin" not in page.headers


async def test_the_protected_resource_metadata_names_the_proxy_only_when_on() -> None:
    configure(BASE)
    off = body_of(await call("protected_resource_metadata", "GET", "/.well-known/oauth-protected-resource/mcp"))
    assert off["authorization_servers"] == [f"https://login.microsoftonline.com/{TENANT}/v2.0"]
    configure({**BASE, "OAUTH_PROXY": "true", "OAUTH_PROXY_STORAGE": "UseDevelopmentStorage=true"})
    on = body_of(
        await call(
            "protected_resource_metadata",
            "GET",
            "/.well-known/oauth-protected-resource/mcp",
            route_params={"resource": "mcp"},
        )
    )
    assert on["authorization_servers"] == ["http://localhost:7071"]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({}, "OAUTH_PROXY=true needs OAUTH_PROXY_TABLE_ENDPOINT"),
        ({"OAUTH_PROXY_STORAGE": "x", "ENABLE_AUTH": "false"}, "needs authentication on"),
        ({"OAUTH_PROXY_TABLE_ENDPOINT": "http://tables.example"}, "OAUTH_PROXY_TABLE_ENDPOINT"),
        ({"OAUTH_PROXY_STORAGE": "x", "OAUTH_PROXY_TABLE": "bad-name"}, "OAUTH_PROXY_TABLE"),
        ({"OAUTH_PROXY_STORAGE": "x", "OAUTH_PROXY_CIMD_LOOPBACK": "true", "ENVIRONMENT": "production"}, "refused"),
        ({"OAUTH_PROXY_STORAGE": "x", "OAUTH_PROXY_REGISTRATIONS_PER_MINUTE": "0"}, "REGISTRATIONS_PER_MINUTE"),
    ],
)
def test_a_misconfigured_proxy_is_a_problem(extra: dict[str, str], problem: str) -> None:
    settings = load_settings({**BASE, "OAUTH_PROXY": "true", **extra})
    assert any(problem in p for p in settings.problems), settings.problems


def test_a_sealed_row_opens_only_with_its_secret() -> None:
    secret = seal.new_secret()
    sealed = seal.seal(secret, "code", {"access_token": "eyJ.secret"})
    assert "eyJ" not in sealed and seal.open_sealed(secret, "code", sealed) == {"access_token": "eyJ.secret"}
    with pytest.raises(ValueError):
        seal.open_sealed(seal.new_secret(), "code", sealed)
    with pytest.raises(ValueError):
        seal.open_sealed(secret, "state", sealed)


@pytest.mark.parametrize(
    ("registered", "given", "matches"),
    [
        ("http://127.0.0.1/cb", "http://127.0.0.1:5555/cb", True),
        ("http://localhost:3000/cb", "http://localhost:4000/cb", True),
        ("http://127.0.0.1/cb", "http://127.0.0.1:5555/cb2", False),
        ("http://127.0.0.1/cb", "http://localhost:5555/cb", False),
        ("https://app.example/cb", "https://app.example:8443/cb", False),
        ("https://app.example/cb", "https://app.example/cb", True),
        ("cursor://x/cb", "cursor://x/cb", True),
        ("http://127.0.0.1/cb", "http://u@127.0.0.1:5/cb", False),
    ],
)
def test_redirect_uris_match_exactly_except_the_loopback_port(registered: str, given: str, matches: bool) -> None:
    assert redirect_matches(registered, given) is matches


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, 300), ("max-age=60", 60), ("public, max-age=999999", 86400), ("no-store", 0), ("no-cache", 0)],
)
def test_cimd_documents_are_kept_per_their_cache_control(header: str | None, seconds: int) -> None:
    assert cache_seconds(header) == seconds


def test_a_cimd_document_names_its_own_url() -> None:
    url = "https://client.example/meta.json"
    client = parse_document(
        url, b'{"client_id": "https://client.example/meta.json", "redirect_uris": ["https://c/cb"]}'
    )
    assert client.client_id == url and client.name == "client.example" and client.kind == "cimd"
    with pytest.raises(OAuthError):
        parse_document(
            url + "?x", b'{"client_id": "https://client.example/meta.json", "redirect_uris": ["https://c/cb"]}'
        )


def test_the_timer_purges_expired_rows_and_keeps_live_ones(tables: azurite.Azurite) -> None:
    runtime = configure({**BASE, "OAUTH_PROXY": "true", "OAUTH_PROXY_STORAGE": tables.connection_string})
    store = runtime.facade.store
    store.put("code", "expired", {"sealed": "x"}, -60)
    store.put("code", "live", {"sealed": "y"}, 600)
    assert store.get("code", "expired") is None, "an expired row is refused before it is purged"
    # The registered function as the host sees it: a timer trigger, whose user function is what the host calls.
    timer = function_app.purge_oauth_state._function  # type: ignore[attr-defined]
    assert [binding.type for binding in timer.get_bindings()] == ["timerTrigger"]
    timer.get_user_function()(None)
    left = {e["RowKey"] for e in store.table().list_entities()}
    assert "expired" not in left and "live" in left


def test_a_row_is_taken_once(tables: azurite.Azurite) -> None:
    store = configure({**BASE, "OAUTH_PROXY": "true", "OAUTH_PROXY_STORAGE": tables.connection_string}).facade.store
    store.put("state", "once", {"n": 1}, 600)
    assert store.take("state", "once") == {"n": 1}
    assert store.take("state", "once") is None


def test_devhost_starts_azurite_for_the_proxy_when_no_storage_is_set(tmp_path: Path) -> None:
    if reason := azurite.missing():
        pytest.skip(reason)
    env = {"DEVHOST_STATE_DIR": str(tmp_path), "AZURE_TENANT_ID": "", "OAUTH_PROXY": "true", "OAUTH_PROXY_STORAGE": ""}
    with start_devhost(env, "--auth", "local") as host:
        assert "Azurite's Table service at http://127.0.0.1:" in host.output()
        registered = httpx2.post(f"{host.base_url}/register", json={"redirect_uris": ["http://127.0.0.1/cb"]})
        assert registered.status_code == 201
        # The local API registration now has a secret, which the app uses as its credential upstream.
        assert json.loads((tmp_path / "local-authority.json").read_text())["client_secret"]
