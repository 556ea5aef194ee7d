"""The OAuth proxy refuses what an attacker tries, with the right OAuth error, storing and logging nothing of it.

Through devhost (OAUTH_PROXY=true, the local authority upstream, Azurite): redirect URI mismatches and
open redirects, missing or `plain` PKCE, a wrong verifier, code replay, a code for another client,
forged and replayed `state`, consent without the CSRF token, a `resource` that is not ours. In process,
against Azurite: CIMD documents that redirect, resolve to private addresses, are too big or name
another `client_id`; DCR floods and malformed registrations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest
from facade_support import Proxy, consent_and_sign_in, query, running_proxy
from signin_support import Pkce, page_form, pkce

from devhost import azurite

REDIRECT = "http://127.0.0.1:40111/cb"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    # Each test registers clients of its own, more than the default 30 a minute in all; the flood limit
    # has its own test (below, in process).
    limit = {"OAUTH_PROXY_REGISTRATIONS_PER_MINUTE": "200"}
    with running_proxy(tmp_path_factory.mktemp("facade-attacks"), **limit) as running:
        yield running


def register(proxy: Proxy, *uris: str, name: str = "Attack test client") -> str:
    answer = httpx2.post(
        f"{proxy.base}/register", json={"redirect_uris": list(uris or [REDIRECT]), "client_name": name}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client_id"])


def authorize_url(proxy: Proxy, client_id: str, challenge: Pkce | None = None, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "client-state",
        "code_challenge": (challenge or pkce()).challenge,
        "code_challenge_method": "S256",
        "resource": proxy.mcp_url,
        **overrides,
    }
    return str(httpx2.URL(f"{proxy.base}/authorize", params={k: v for k, v in params.items() if v is not None}))


def browser(proxy: Proxy) -> httpx2.Client:
    return httpx2.Client(base_url=proxy.base, timeout=30)


def code_for(proxy: Proxy, client_id: str, verifier: Pkce) -> str:
    journey = consent_and_sign_in(browser(proxy), authorize_url(proxy, client_id, verifier))
    return journey.answer["code"]


def redeem(proxy: Proxy, client_id: str, code: str, verifier: str, redirect_uri: str = REDIRECT) -> httpx2.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return httpx2.post(f"{proxy.base}/token", data=form)


def count_rows(proxy: Proxy, kind: str) -> int:
    return sum(1 for row in proxy.rows() if row["PartitionKey"] == kind)


# Redirect URIs and open redirects: shown on a page, never followed.


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/cb",
        "http://127.0.0.1:40111/cb/../evil",
        "http://127.0.0.1:40111/cb?next=https://evil.example",
        "http://127.0.0.1.evil.example:40111/cb",
        "http://127.0.0.1:40111/CB",
        "",
    ],
)
def test_an_unregistered_redirect_uri_is_refused_on_a_page(proxy: Proxy, redirect_uri: str) -> None:
    client_id = register(proxy)
    transactions = count_rows(proxy, "txn")
    answer = httpx2.get(authorize_url(proxy, client_id, redirect_uri=redirect_uri or None))
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "invalid_request" in answer.text and "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert count_rows(proxy, "txn") == transactions


def test_a_loopback_redirect_uri_matches_on_any_port(proxy: Proxy) -> None:
    client_id = register(proxy)
    answer = httpx2.get(authorize_url(proxy, client_id, redirect_uri="http://127.0.0.1:51234/cb"))
    assert answer.status_code == 200 and "127.0.0.1:51234" in answer.text


def test_an_unknown_client_is_refused_on_a_page(proxy: Proxy) -> None:
    answer = httpx2.get(authorize_url(proxy, "mcp-not-registered"))
    assert answer.status_code == 400 and "location" not in answer.headers and "invalid_client" in answer.text


@pytest.mark.parametrize(
    "uri",
    ["javascript:alert(1)", "http://evil.example/cb", "https://x.example/cb#frag", "data:text/html,hi", "file:///etc"],
)
def test_registration_refuses_dangerous_redirect_uris(proxy: Proxy, uri: str) -> None:
    answer = httpx2.post(f"{proxy.base}/register", json={"redirect_uris": [uri]})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_redirect_uri"


def test_registration_accepts_private_use_schemes_and_https(proxy: Proxy) -> None:
    uris = ["cursor://anysphere.cursor-mcp/oauth/callback", "https://claude.ai/api/mcp/auth_callback"]
    answer = httpx2.post(f"{proxy.base}/register", json={"redirect_uris": uris})
    assert answer.status_code == 201 and answer.json()["redirect_uris"] == uris


# Errors a verified client gets back at its redirect URI.


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"state": "s" * 1025}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"resource": "https://graph.microsoft.com"}, "invalid_target"),
        ({"resource": "http://127.0.0.1:1/mcp"}, "invalid_target"),
        ({"scope": "https://graph.microsoft.com/Mail.Read"}, "invalid_scope"),
    ],
)
def test_a_bad_authorization_request_goes_back_to_the_client_as_an_oauth_error(
    proxy: Proxy, overrides: dict[str, str | None], error: str
) -> None:
    client_id = register(proxy)
    transactions = count_rows(proxy, "txn")
    answer = httpx2.get(authorize_url(proxy, client_id, **overrides))
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    back = query(location)
    assert back["error"] == error and back["iss"] == proxy.base
    assert back.get("state") == (None if "state" in overrides else "client-state")
    assert count_rows(proxy, "txn") == transactions


# The token endpoint.


def test_a_wrong_verifier_is_refused_and_spends_the_code(proxy: Proxy) -> None:
    client_id, verifier = register(proxy), pkce()
    code = code_for(proxy, client_id, verifier)
    wrong = redeem(proxy, client_id, code, pkce().verifier)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert redeem(proxy, client_id, code, verifier.verifier).json()["error"] == "invalid_grant"


def test_a_missing_verifier_is_refused(proxy: Proxy) -> None:
    client_id, verifier = register(proxy), pkce()
    code = code_for(proxy, client_id, verifier)
    assert redeem(proxy, client_id, code, "").json()["error"] == "invalid_grant"


def test_a_code_is_redeemed_once(proxy: Proxy) -> None:
    client_id, verifier = register(proxy), pkce()
    code = code_for(proxy, client_id, verifier)
    first = redeem(proxy, client_id, code, verifier.verifier)
    assert first.status_code == 200 and first.json()["token_type"] == "Bearer"
    replayed = redeem(proxy, client_id, code, verifier.verifier)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"


def refresh(proxy: Proxy, client_id: str, refresh_token: str) -> httpx2.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return httpx2.post(f"{proxy.base}/token", data=form)


def signed_in(proxy: Proxy, client_id: str) -> tuple[str, str]:
    """A code and the refresh token its redemption gave."""
    verifier = pkce()
    code = code_for(proxy, client_id, verifier)
    answer = redeem(proxy, client_id, code, verifier.verifier)
    assert answer.status_code == 200, answer.text
    return code, answer.json()["refresh_token"]


REVOKED = {"error": "invalid_grant", "error_description": "The refresh token was revoked."}


def test_a_replayed_code_revokes_the_refresh_tokens_issued_from_it(proxy: Proxy) -> None:
    """OAuth 2.1 4.1.3: a code used twice was leaked; what it gave is revoked, rotated tokens included."""
    client_id = register(proxy)
    code, issued = signed_in(proxy, client_id)
    _, elsewhere = signed_in(proxy, client_id)  # another sign-in: another family
    rotated = refresh(proxy, client_id, issued)
    assert rotated.status_code == 200
    replayed = redeem(proxy, client_id, code, pkce().verifier)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    assert refresh(proxy, client_id, rotated.json()["refresh_token"]).json() == REVOKED
    assert refresh(proxy, client_id, elsewhere).status_code == 200


def test_a_replayed_refresh_token_revokes_its_family(proxy: Proxy) -> None:
    """OAuth 2.1 4.3.1: a rotated refresh token presented again means two parties hold the family."""
    client_id = register(proxy)
    _, first = signed_in(proxy, client_id)
    _, elsewhere = signed_in(proxy, client_id)
    second = refresh(proxy, client_id, first).json()["refresh_token"]
    replayed = refresh(proxy, client_id, first)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    assert refresh(proxy, client_id, second).json() == REVOKED
    assert refresh(proxy, client_id, elsewhere).status_code == 200
    # What a spent code or refresh token leaves behind names its family and holds nothing secret.
    left = [row for row in proxy.rows() if row["PartitionKey"] in ("code", "grant") and row["Spent"]]
    assert left and all(set(json.loads(row["Data"])) == {"family"} for row in left)


def test_a_code_for_another_client_is_refused(proxy: Proxy) -> None:
    victim, attacker, verifier = register(proxy), register(proxy), pkce()
    code = code_for(proxy, victim, verifier)
    stolen = redeem(proxy, attacker, code, verifier.verifier)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


def test_a_code_with_another_redirect_uri_is_refused(proxy: Proxy) -> None:
    client_id, verifier = register(proxy), pkce()
    code = code_for(proxy, client_id, verifier)
    assert redeem(proxy, client_id, code, verifier.verifier, "http://127.0.0.1:40111/other").status_code == 400


def test_a_refresh_token_of_another_client_or_forged_is_refused(proxy: Proxy) -> None:
    client_id, other, verifier = register(proxy), register(proxy), pkce()
    tokens = redeem(proxy, client_id, code_for(proxy, client_id, verifier), verifier.verifier).json()
    refresh = tokens["refresh_token"]
    for form in (
        {"refresh_token": refresh, "client_id": other},
        {"refresh_token": refresh.split(".")[0] + ".AAAA", "client_id": client_id},
        {"refresh_token": "not-ours", "client_id": client_id},
    ):
        answer = httpx2.post(f"{proxy.base}/token", data={"grant_type": "refresh_token", **form})
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_the_token_endpoint_refuses_other_grants_and_json(proxy: Proxy) -> None:
    answer = httpx2.post(f"{proxy.base}/token", data={"grant_type": "client_credentials"})
    assert answer.json()["error"] == "unsupported_grant_type"
    assert httpx2.post(f"{proxy.base}/token", json={"grant_type": "refresh_token"}).json()["error"] == "invalid_request"


# The callback's state and the consent's CSRF token.


def test_a_forged_state_is_refused(proxy: Proxy) -> None:
    answer = httpx2.get(f"{proxy.base}/callback", params={"state": "forged-state-value", "code": "forged-code"})
    assert answer.status_code == 400 and "location" not in answer.headers


def test_a_replayed_state_is_refused(proxy: Proxy) -> None:
    client_id = register(proxy)
    journey = consent_and_sign_in(browser(proxy), authorize_url(proxy, client_id))
    assert "code" in journey.answer
    upstream_state = query(journey.to_entra)["state"]
    replayed = httpx2.get(f"{proxy.base}/callback", params={"state": upstream_state, "code": "another-code"})
    assert replayed.status_code == 400 and "location" not in replayed.headers


def consent_form(proxy: Proxy, client_id: str) -> tuple[httpx2.Client, dict[str, str]]:
    person = browser(proxy)
    page = person.get(authorize_url(proxy, client_id))
    assert page.status_code == 200
    assert (
        page.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    return person, page_form(page.text)[1]


def test_consent_without_the_csrf_cookie_is_refused(proxy: Proxy) -> None:
    client_id = register(proxy)
    _, fields = consent_form(proxy, client_id)
    # Another site auto-submitting the form: the SameSite cookie does not come along.
    forged = httpx2.post(f"{proxy.base}/consent", data={**fields, "decision": "approve"})
    assert forged.status_code == 403 and "location" not in forged.headers


def test_consent_without_the_csrf_field_or_with_another_is_refused(proxy: Proxy) -> None:
    client_id = register(proxy)
    person, fields = consent_form(proxy, client_id)
    missing = person.post("/consent", data={"transaction": fields["transaction"], "decision": "approve"})
    assert missing.status_code == 403
    other = person.post("/consent", data={**fields, "csrf": "x" * 43, "decision": "approve"})
    assert other.status_code == 403
    # The real one still works: the refusals spent nothing.
    real = person.post("/consent", data={**fields, "decision": "approve"})
    assert real.status_code == 302 and "/oauth2/v2.0/authorize" in real.headers["location"]
    assert "resource=" not in real.headers["location"], "the client's resource is never sent to Entra"


def test_a_denied_consent_tells_the_client(proxy: Proxy) -> None:
    client_id = register(proxy)
    journey = consent_and_sign_in(browser(proxy), authorize_url(proxy, client_id), decision="deny")
    assert journey.answer["error"] == "access_denied" and journey.answer["state"] == "client-state"


def test_the_consent_page_escapes_what_the_client_claims(proxy: Proxy) -> None:
    client_id = register(proxy, name='<script>alert("x")</script>')
    page = httpx2.get(authorize_url(proxy, client_id))
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


def test_nothing_of_the_attacks_is_logged(proxy: Proxy) -> None:
    log = proxy.host.output()
    for secret in ("forged-state-value", "forged-code", "another-code", "client-state"):
        assert secret not in log


# CIMD documents, fetched by the proxy in process with the default settings (no loopback hosts).


def settings_for(tables: azurite.Azurite, **extra: str):  # type: ignore[no-untyped-def]
    from shared.settings import load_settings

    return load_settings(
        {
            "AZURE_TENANT_ID": "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
            "AZURE_CLIENT_ID": "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2910",
            "OAUTH_PROXY": "true",
            "OAUTH_PROXY_STORAGE": tables.connection_string,
            **extra,
        }
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:9/client.json",
        "https://10.0.0.1/client.json",
        "https://169.254.169.254/metadata.json",
        "https://[::1]/client.json",
        "https://[::ffff:127.0.0.1]/client.json",
        "https://192.168.1.10/client.json",
        "https://localhost/client.json",
    ],
)
def test_a_cimd_document_on_a_private_address_is_never_fetched(tables: azurite.Azurite, url: str) -> None:
    from shared.facade.cimd import CimdFetcher
    from shared.facade.errors import OAuthError

    with pytest.raises(OAuthError, match="not public") as refused:
        CimdFetcher(settings_for(tables)).client(url)
    assert refused.value.error == "invalid_client"


@pytest.mark.parametrize(
    "url",
    ["http://example.com/c.json", "https://example.com/", "https://u:p@example.com/c.json", "https://e.com/a/../c"],
)
def test_a_cimd_url_must_be_https_with_a_path(tables: azurite.Azurite, url: str) -> None:
    from shared.facade.cimd import CimdFetcher
    from shared.facade.errors import OAuthError

    with pytest.raises(OAuthError):
        CimdFetcher(settings_for(tables)).client(url)


def test_loopback_cimd_is_refused_in_production(tables: azurite.Azurite) -> None:
    settings = settings_for(tables, OAUTH_PROXY_CIMD_LOOPBACK="true", ENVIRONMENT="production")
    assert any("OAUTH_PROXY_CIMD_LOOPBACK" in problem for problem in settings.problems)


@pytest.mark.parametrize(
    ("path", "document", "options", "why"),
    [
        ("/moved.json", {}, {"status": 302, "headers": {"Location": "https://127.0.0.1/x.json"}}, "redirects"),
        ("/big.json", {"client_name": "x" * 6000, "redirect_uris": [REDIRECT]}, {}, "larger than 5 KiB"),
        ("/other.json", {"client_id": "https://other.example/c.json", "redirect_uris": [REDIRECT]}, {}, "client_id"),
        ("/nouris.json", {"client_name": "No URIs"}, {}, "redirect_uris"),
        ("/text.json", {"redirect_uris": [REDIRECT]}, {"headers": {"Content-Type": "text/html"}}, "JSON"),
        (
            "/secret.json",
            {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic"},
            {},
            "public",
        ),
    ],
)
def test_a_bad_cimd_document_is_refused(
    proxy: Proxy, path: str, document: dict[str, object], options: dict[str, object], why: str
) -> None:
    url = proxy.documents.publish(path, document, **options)
    answer = httpx2.get(authorize_url(proxy, url))
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "invalid_client" in answer.text and why in answer.text


# Dynamic registration: floods and malformed requests.


def test_a_registration_flood_is_refused_with_429(tables: azurite.Azurite) -> None:
    from shared.facade.errors import OAuthError
    from shared.facade.registration import register as registered
    from shared.facade.store import Store

    store = Store(settings_for(tables, OAUTH_PROXY_TABLE="floodtest"))
    body = json.dumps({"redirect_uris": [REDIRECT]}).encode()
    accepted = [registered(store, body, per_minute=3) for _ in range(3)]
    assert len({a["client_id"] for a in accepted}) == 3
    with pytest.raises(OAuthError) as refused:
        registered(store, body, per_minute=3)
    assert refused.value.status == 429 and refused.value.error == "too_many_requests"
    clients = [e for e in store.table().list_entities() if e["PartitionKey"] == "client"]
    assert len(clients) == 3, "a refused registration stores nothing"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"x" * 9000, "invalid_client_metadata"),
        (b"not json", "invalid_client_metadata"),
        (json.dumps({"redirect_uris": [f"https://a.example/{i}" for i in range(11)]}).encode(), "invalid_redirect_uri"),
        (json.dumps({"redirect_uris": []}).encode(), "invalid_redirect_uri"),
        (
            json.dumps({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"}).encode(),
            "invalid_client_metadata",
        ),
        (
            json.dumps({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}).encode(),
            "invalid_client_metadata",
        ),
    ],
)
def test_a_malformed_registration_is_refused(proxy: Proxy, body: bytes, error: str) -> None:
    answer = httpx2.post(f"{proxy.base}/register", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"] == error
