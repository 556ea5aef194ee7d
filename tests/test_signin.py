"""The local authority's authorize and token endpoints, in process: the flows, the app accepting what they
issue, and the hostile cases, each refused with Entra's error (its `error`, AADSTS code and redirect rules)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from signin_support import Pkce, authorize_url, page_form, pkce, sign_in
from support import CLIENT, TENANT, body_of, call, configure, env_for

from devhost.authority import LocalAuthority, SigningKey
from devhost.directory import local_directory

PUBLIC = "a1b2c3d4-0000-4000-8000-000000000001"
OTHER = "a1b2c3d4-0000-4000-8000-000000000002"
SECRET_CLIENT = "a1b2c3d4-0000-4000-8000-000000000003"
KEY_CLIENT = "a1b2c3d4-0000-4000-8000-000000000004"
REDIRECT = "http://127.0.0.1:49152/callback"
FACADE_REDIRECT = "https://facade.example.test/callback"
SECRET = "local-test-secret-value"
USER_SCOPE = f"api://{CLIENT}/user_impersonation"
ASSERTION_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def entra() -> Iterator[LocalAuthority]:
    public_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(ASSERTION_KEY.public_key(), as_dict=True)
    directory = local_directory(
        TENANT,
        CLIENT,
        extra_identifier_uris=("http://127.0.0.1:7071/mcp",),
        listed_clients=[
            {"client_id": PUBLIC, "name": "Public <test> app", "redirect_uris": ["http://127.0.0.1/callback"]},
            {"client_id": OTHER, "redirect_uris": ["http://127.0.0.1/callback"]},
            {
                "client_id": SECRET_CLIENT,
                "redirect_uris": [FACADE_REDIRECT],
                "client_secret": SECRET,
                "roles": ["MCP.Invoke"],
            },
            {
                "client_id": KEY_CLIENT,
                "redirect_uris": [FACADE_REDIRECT],
                "jwks": [{**public_jwk, "kid": "key-1"}],
                "roles": ["MCP.Invoke"],
            },
        ],
    )
    with LocalAuthority(SigningKey.generate(), directory=directory) as served:
        yield served


def token_url(entra: LocalAuthority) -> str:
    return f"{entra.url}/{TENANT}/oauth2/v2.0/token"


def start(entra: LocalAuthority, pair: Pkce | None = None, **overrides: str) -> str:
    pair = pair or pkce()
    params = {
        "client_id": PUBLIC,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": f"{USER_SCOPE} openid profile offline_access",
        "state": "state-123",
        "code_challenge": pair.challenge,
        "code_challenge_method": "S256",
        "nonce": "nonce-456",
        **overrides,
    }
    return authorize_url(entra.url, TENANT, **{k: v for k, v in params.items() if v != "-"})


def code_for(entra: LocalAuthority, pair: Pkce, user: str = "local.user@example.test", **overrides: str) -> str:
    outcome = sign_in(start(entra, pair, **overrides), user, deliver=False)
    assert outcome.fields["state"] == overrides.get("state", "state-123")
    return outcome.fields["code"]


def redeem(entra: LocalAuthority, code: str, pair: Pkce, **overrides: str) -> httpx2.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": PUBLIC,
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": pair.verifier,
        **overrides,
    }
    return httpx2.post(token_url(entra), data={k: v for k, v in form.items() if v != "-"})


def refresh(entra: LocalAuthority, refresh_token: str, **extra: str) -> httpx2.Response:
    form = {"grant_type": "refresh_token", "client_id": PUBLIC, "refresh_token": refresh_token, **extra}
    return httpx2.post(token_url(entra), data=form)


def refused(response: httpx2.Response, error: str, code: int, status: int = 400) -> dict[str, Any]:
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (status, error, [code]), body
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()
    return body


def redirected_error(response: httpx2.Response, error: str, code: int) -> None:
    """An error sent back to the client's (valid) redirect URI, with its state (RFC 6749 section 4.1.2.1)."""
    assert response.status_code == 302, response.text[:300]
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["error"] == error and query["error_description"].startswith(f"AADSTS{code}: ")
    assert query["state"] == "state-123" and "code" not in query


def shown_not_redirected(response: httpx2.Response, code: int) -> str:
    assert response.status_code == 400 and "location" not in response.headers
    assert f"AADSTS{code}" in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    return response.text


# Discovery


def test_the_documents_list_the_endpoints_it_serves(entra: LocalAuthority) -> None:
    v2 = httpx2.get(f"{entra.url}/{TENANT}/v2.0/.well-known/openid-configuration").json()
    assert v2["authorization_endpoint"] == f"{entra.url}/{TENANT}/oauth2/v2.0/authorize"
    assert v2["token_endpoint"] == token_url(entra)
    assert v2["code_challenge_methods_supported"] == ["S256"] and "offline_access" in v2["scopes_supported"]
    # RFC 8414, both where its section 3 puts it and appended to the issuer: the same document.
    for path in (
        f"/.well-known/oauth-authorization-server/{TENANT}/v2.0",
        f"/{TENANT}/v2.0/.well-known/oauth-authorization-server",
    ):
        assert httpx2.get(entra.url + path).json() == v2
    v1 = httpx2.get(f"{entra.url}/{TENANT}/.well-known/openid-configuration").json()
    assert "authorization_endpoint" not in v1 and "token_endpoint" not in v1  # no v1 endpoints are served


def test_without_a_directory_it_signs_no_one_in_and_says_so(authority: LocalAuthority) -> None:
    v2 = httpx2.get(f"{authority.url}/{TENANT}/v2.0/.well-known/openid-configuration").json()
    assert "authorization_endpoint" not in v2 and "code_challenge_methods_supported" not in v2
    assert httpx2.get(f"{authority.url}/{TENANT}/oauth2/v2.0/authorize").status_code == 404
    assert httpx2.get(f"{authority.url}/.well-known/oauth-authorization-server/{TENANT}/v2.0").status_code == 404


# The code flow


async def test_a_signed_in_user_gets_tokens_the_app_accepts(entra: LocalAuthority) -> None:
    pair = pkce()
    answer = redeem(entra, code_for(entra, pair), pair, client_info="1")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["scope"] == USER_SCOPE and body["expires_in"] > 3000
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (access["aud"], access["azp"], access["scp"], access["ver"]) == (CLIENT, PUBLIC, "user_impersonation", "2.0")
    ident = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert (ident["aud"], ident["nonce"], ident["preferred_username"]) == (
        PUBLIC,
        "nonce-456",
        "local.user@example.test",
    )
    assert ident["sub"] != access["sub"]  # pairwise: another app, another subject
    assert body["refresh_token"] and body["client_info"]

    configure(env_for(entra))
    me = await call("me", token=body["access_token"])
    assert me.status_code == 200, me.get_body()
    assert body_of(me)["client_app_id"] == PUBLIC and body_of(me)["name"] == "Local User"


def test_openid_alone_gives_no_refresh_token_and_no_openid_no_id_token(entra: LocalAuthority) -> None:
    pair = pkce()
    body = redeem(entra, code_for(entra, pair, scope=USER_SCOPE), pair).json()
    assert "refresh_token" not in body and "id_token" not in body and body["access_token"]


async def test_the_step_up_scope_is_granted_when_asked_and_only_then(entra: LocalAuthority) -> None:
    pair = pkce()
    code = code_for(entra, pair, scope=f"{USER_SCOPE} api://{CLIENT}/Profile.Read offline_access")
    body = redeem(entra, code, pair).json()
    assert (
        jwt.decode(body["access_token"], options={"verify_signature": False})["scp"]
        == "user_impersonation Profile.Read"
    )
    narrowed = refresh(entra, body["refresh_token"], scope=f"api://{CLIENT}/Profile.Read").json()
    assert jwt.decode(narrowed["access_token"], options={"verify_signature": False})["scp"] == "Profile.Read"

    # A grant without it cannot widen itself on refresh: the client must sign the user in again.
    pair = pkce()
    plain = redeem(entra, code_for(entra, pair), pair).json()
    wider = refresh(entra, plain["refresh_token"], scope=f"api://{CLIENT}/Profile.Read")
    assert refused(wider, "invalid_grant", 65001)["suberror"] == "consent_required"
    still = refresh(entra, plain["refresh_token"])
    assert still.status_code == 200  # the refused widening did not spend the refresh token


def test_form_post_answers_with_a_self_submitting_form_under_its_policy(entra: LocalAuthority) -> None:
    outcome = sign_in(start(entra, response_mode="form_post"), "adele.vance@example.test", deliver=False)
    assert outcome.redirected_to == REDIRECT and set(outcome.fields) == {"code", "state", "session_state"}


def test_a_typed_user_signs_in_and_a_bad_name_is_asked_again(entra: LocalAuthority) -> None:
    page = httpx2.get(start(entra))
    action, hidden = page_form(page.text)
    again = httpx2.post(action, data={**hidden, "decision": "typed", "typed_username": "not a name"})
    assert again.status_code == 200 and "Type a user name" in again.text
    action, hidden = page_form(again.text)
    typed = {"decision": "typed", "typed_username": "grace@example.test"}
    done = httpx2.post(action, data={**hidden, **typed})
    assert done.status_code == 302 and "code=" in done.headers["location"]
    # A page is good for one answer.
    assert httpx2.post(action, data={**hidden, **typed}).status_code == 400


def test_cancel_tells_the_client_access_was_denied(entra: LocalAuthority) -> None:
    action, hidden = page_form(httpx2.get(start(entra)).text)
    redirected_error(httpx2.post(action, data={**hidden, "decision": "cancel"}), "access_denied", 65004)


# Hostile and broken requests


def test_a_wrong_verifier_is_refused(entra: LocalAuthority) -> None:
    pair = pkce()
    answer = redeem(entra, code_for(entra, pair), pkce())
    refused(answer, "invalid_grant", 50148)


def test_a_missing_verifier_is_refused(entra: LocalAuthority) -> None:
    pair = pkce()
    refused(redeem(entra, code_for(entra, pair), pair, code_verifier="-"), "invalid_request", 900144)


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"code_challenge": "-", "code_challenge_method": "-"}, "invalid_request", 900144),
        ({"code_challenge_method": "plain"}, "invalid_request", 9002313),
        ({"code_challenge_method": "-"}, "invalid_request", 9002313),  # no method means plain
        ({"code_challenge": "short"}, "invalid_request", 501491),
        ({"response_type": "token"}, "unsupported_response_type", 70005),
        ({"resource": "https://evil.example/mcp"}, "invalid_request", 9010010),
        ({"scope": f"api://{CLIENT}/Mail.Send"}, "invalid_client", 650053),
        ({"scope": "User.Read openid"}, "invalid_resource", 500011),
        ({"scope": "openid profile"}, "invalid_scope", 70011),
        ({"prompt": "none"}, "login_required", 50058),
    ],
    ids=[
        "no-challenge",
        "plain",
        "no-method",
        "bad-challenge",
        "implicit",
        "resource",
        "unknown-scope",
        "graph",
        "no-api",
        "prompt-none",
    ],
)
def test_bad_authorize_requests_go_back_to_a_valid_client_as_errors(
    entra: LocalAuthority, overrides: dict[str, str], error: str, code: int
) -> None:
    redirected_error(httpx2.get(start(entra, **overrides)), error, code)


def test_a_resource_naming_the_api_is_accepted(entra: LocalAuthority) -> None:
    pair = pkce()
    code = code_for(entra, pair, resource="http://127.0.0.1:7071/mcp")
    assert redeem(entra, code, pair, resource="http://127.0.0.1:7071/mcp").status_code == 200
    pair = pkce()
    refused(redeem(entra, code_for(entra, pair), pair, resource="https://evil.example"), "invalid_request", 9010010)


def test_a_replayed_code_is_refused_and_revokes_what_it_bought(entra: LocalAuthority) -> None:
    pair = pkce()
    code = code_for(entra, pair)
    first = redeem(entra, code, pair)
    assert first.status_code == 200
    replay = redeem(entra, code, pair)
    body = refused(replay, "invalid_grant", 54005)
    assert code not in replay.text and pair.verifier not in replay.text
    revoked = refresh(entra, first.json()["refresh_token"])
    assert revoked.json()["error"] == "invalid_grant" and body["error_uri"].endswith("54005")


def test_a_code_for_another_client_is_refused(entra: LocalAuthority) -> None:
    pair = pkce()
    refused(redeem(entra, code_for(entra, pair), pair, client_id=OTHER), "invalid_grant", 70000)


def test_a_redirect_uri_other_than_the_codes_is_refused(entra: LocalAuthority) -> None:
    pair = pkce()
    code = code_for(entra, pair)
    refused(redeem(entra, code, pair, redirect_uri="http://127.0.0.1:49153/callback"), "invalid_grant", 50011)


def test_an_expired_code_is_refused(entra: LocalAuthority) -> None:
    pair = pkce()
    code = code_for(entra, pair)
    assert entra.signin is not None
    with entra.signin.lock:
        entra.signin.codes[code] = replace(entra.signin.codes[code], expires=time.time() - 1)
    refused(redeem(entra, code, pair), "invalid_grant", 70008)


def test_refreshing_alone_keeps_only_what_is_still_valid(entra: LocalAuthority) -> None:
    """A devhost whose clients only refresh (no new sign-ins) drops expired refresh tokens and spent ones."""
    pair = pkce()
    first = redeem(entra, code_for(entra, pair), pair).json()["refresh_token"]
    second = refresh(entra, first).json()["refresh_token"]
    assert entra.signin is not None
    with entra.signin.lock:
        assert first in entra.signin.spent_refresh_tokens
        entra.signin.spent_refresh_tokens[first] = time.time() - 1
        entra.signin.refresh_tokens["expired"] = replace(entra.signin.refresh_tokens[second], expires=time.time() - 1)
    assert refresh(entra, second).status_code == 200
    with entra.signin.lock:
        assert first not in entra.signin.spent_refresh_tokens and "expired" not in entra.signin.refresh_tokens


def test_an_unknown_code_is_refused(entra: LocalAuthority) -> None:
    refused(redeem(entra, "made-up", pkce()), "invalid_grant", 9002313)


def test_an_unknown_client_is_refused_on_the_page_and_at_the_token_endpoint(entra: LocalAuthority) -> None:
    stranger = str(uuid.uuid4())
    shown_not_redirected(httpx2.get(start(entra, client_id=stranger)), 700016)
    refused(redeem(entra, "x", pkce(), client_id=stranger), "unauthorized_client", 700016)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "http://127.0.0.1.evil.example/callback",
        "http://127.0.0.1:80@evil.example/callback",
        "http://evil.example@127.0.0.1/callback",
        "http://127.0.0.1/callback/../../evil",
        "http://127.0.0.1/callback#fragment",
        "http://127.0.0.1/callback?next=https://evil.example",
        "http://localhost/callback",  # registered for 127.0.0.1 only
        "https://127.0.0.1/callback",
        "//evil.example/callback",
        "javascript:alert(document.domain)//127.0.0.1/callback",
        "-",
    ],
)
def test_open_redirects_are_shown_never_followed(entra: LocalAuthority, redirect_uri: str) -> None:
    # Broken in every other way too: with an unregistered redirect URI nothing at all goes to it.
    response = httpx2.get(start(entra, redirect_uri=redirect_uri, response_type="token", code_challenge="-"))
    page = shown_not_redirected(response, 900144 if redirect_uri == "-" else 50011)
    assert "<script" not in page.lower()


def test_nothing_a_request_carries_is_reflected_unescaped(entra: LocalAuthority) -> None:
    hostile = '"><script>alert(1)</script>'
    page = httpx2.get(start(entra, login_hint=hostile)).text
    assert hostile not in page and "&quot;&gt;&lt;script&gt;" in page
    assert "Public &lt;test&gt; app" in page  # even a registered client's name
    error_page = httpx2.get(start(entra, client_id=hostile)).text
    assert hostile not in error_page


def test_a_repeated_parameter_and_an_unknown_tenant_are_refused(entra: LocalAuthority) -> None:
    shown_not_redirected(httpx2.get(start(entra) + "&client_id=" + OTHER), 9000411)
    other_tenant = start(entra).replace(f"/{TENANT}/", f"/{uuid.uuid4()}/")
    shown_not_redirected(httpx2.get(other_tenant), 90002)
    refused(httpx2.post(token_url(entra).replace(TENANT, str(uuid.uuid4())), data={}), "invalid_request", 90002)


def test_the_token_endpoint_wants_a_form_and_a_known_grant(entra: LocalAuthority) -> None:
    refused(httpx2.post(token_url(entra), json={"grant_type": "authorization_code"}), "invalid_request", 9002313)
    refused(httpx2.post(token_url(entra), data={"client_id": PUBLIC}), "invalid_request", 900144)
    refused(
        httpx2.post(token_url(entra), data={"grant_type": "password", "client_id": PUBLIC}),
        "unsupported_grant_type",
        70003,
    )
    assert httpx2.get(token_url(entra)).status_code == 405


# Confidential clients


async def test_client_credentials_with_a_secret_give_an_app_token_the_app_accepts(entra: LocalAuthority) -> None:
    form = {"grant_type": "client_credentials", "scope": f"api://{CLIENT}/.default"}
    posted = httpx2.post(token_url(entra), data={**form, "client_id": SECRET_CLIENT, "client_secret": SECRET})
    basic = httpx2.post(token_url(entra), data=form, auth=(SECRET_CLIENT, SECRET))
    for answer in (posted, basic):
        assert answer.status_code == 200, answer.text
        claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
        assert (claims["idtyp"], claims["roles"], claims["azp"], claims["azpacr"]) == (
            "app",
            ["MCP.Invoke"],
            SECRET_CLIENT,
            "1",
        )
        assert "scp" not in claims and "refresh_token" not in answer.json()
    configure(env_for(entra))
    me = await call("me", token=posted.json()["access_token"])
    assert me.status_code == 200 and body_of(me)["kind"] == "app"


def test_client_credentials_refusals(entra: LocalAuthority) -> None:
    form = {"grant_type": "client_credentials", "scope": f"api://{CLIENT}/.default"}
    wrong = httpx2.post(
        token_url(entra), data={**form, "client_id": SECRET_CLIENT, "client_secret": "wrong-secret-value"}
    )
    refused(wrong, "invalid_client", 7000215, status=401)
    assert "wrong-secret-value" not in wrong.text
    refused(
        httpx2.post(token_url(entra), data={**form, "client_id": SECRET_CLIENT}), "invalid_client", 7000218, status=401
    )
    refused(httpx2.post(token_url(entra), data={**form, "client_id": PUBLIC}), "invalid_client", 7000218, status=401)
    user_scope = {**form, "scope": USER_SCOPE, "client_id": SECRET_CLIENT, "client_secret": SECRET}
    refused(httpx2.post(token_url(entra), data=user_scope), "invalid_scope", 1002012)


def test_a_confidential_client_redeems_its_code_only_with_its_secret(entra: LocalAuthority) -> None:
    pair = pkce()
    code = code_for(entra, pair, client_id=SECRET_CLIENT, redirect_uri=FACADE_REDIRECT)
    form = {"client_id": SECRET_CLIENT, "redirect_uri": FACADE_REDIRECT}
    refused(redeem(entra, code, pair, **form), "invalid_client", 7000218, status=401)
    code = code_for(entra, pair, client_id=SECRET_CLIENT, redirect_uri=FACADE_REDIRECT)
    assert redeem(entra, code, pair, **form, client_secret=SECRET).status_code == 200
    # A public client has no secret to send.
    refused(redeem(entra, "x", pair, client_secret="anything"), "invalid_client", 700025, status=401)


def assertion(entra: LocalAuthority, key: rsa.RSAPrivateKey = ASSERTION_KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": KEY_CLIENT, "sub": KEY_CLIENT, "aud": token_url(entra), "iat": now, "exp": now + 300}
    claims.update(jti=str(uuid.uuid4()), **overrides)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "key-1"})


def test_private_key_jwt_client_credentials(entra: LocalAuthority) -> None:
    def post(signed: str) -> httpx2.Response:
        form = {
            "grant_type": "client_credentials",
            "scope": f"api://{CLIENT}/.default",
            "client_id": KEY_CLIENT,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        }
        return httpx2.post(token_url(entra), data=form)

    signed = assertion(entra)
    ok = post(signed)
    assert ok.status_code == 200, ok.text
    assert jwt.decode(ok.json()["access_token"], options={"verify_signature": False})["azpacr"] == "2"
    refused(post(signed), "invalid_client", 700025, status=401)  # each assertion once
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(post(assertion(entra, other_key)), "invalid_client", 700027, status=401)
    refused(post(assertion(entra, aud="https://elsewhere.example/token")), "invalid_client", 700021, status=401)
    refused(post(assertion(entra, exp=int(time.time()) - 3600)), "invalid_client", 700024, status=401)


def test_browser_clients_may_read_discovery_and_loopback_pages_may_redeem(entra: LocalAuthority) -> None:
    """The MCP Inspector's page (http://localhost:6274) reads metadata and redeems codes from its own origin."""
    inspector = {"Origin": "http://localhost:6274"}
    document = httpx2.get(f"{entra.url}/{TENANT}/v2.0/.well-known/openid-configuration", headers=inspector)
    assert document.headers["access-control-allow-origin"] == "*"
    preflight = httpx2.request(
        "OPTIONS",
        f"{entra.url}/.well-known/oauth-authorization-server/{TENANT}/v2.0",
        headers={**inspector, "Access-Control-Request-Headers": "mcp-protocol-version"},
    )
    assert preflight.status_code == 204
    assert "MCP-Protocol-Version" in preflight.headers["access-control-allow-headers"]
    pair = pkce()
    answered = redeem_from(entra, code_for(entra, pair), pair, inspector)
    assert answered.status_code == 200 and answered.headers["access-control-allow-origin"] == "http://localhost:6274"
    pair = pkce()
    elsewhere = redeem_from(entra, code_for(entra, pair), pair, {"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in elsewhere.headers


def redeem_from(entra: LocalAuthority, code: str, pair: Pkce, headers: dict[str, str]) -> httpx2.Response:
    form = {"grant_type": "authorization_code", "client_id": PUBLIC, "code": code, "redirect_uri": REDIRECT}
    return httpx2.post(token_url(entra), data={**form, "code_verifier": pair.verifier}, headers=headers)


async def test_a_v1_api_gets_v1_tokens_the_app_accepts() -> None:
    """`requestedAccessTokenVersion: 1`: the same sign-in, Entra's v1 shape (sts.windows.net issuer, appid, upn)."""
    clients = [{"client_id": PUBLIC, "redirect_uris": ["http://127.0.0.1/callback"]}]
    directory = local_directory(TENANT, CLIENT, listed_clients=clients, token_version="1.0")
    with LocalAuthority(SigningKey.generate(), directory=directory) as v1:
        pair = pkce()
        body = redeem(v1, code_for(v1, pair), pair).json()
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert (claims["ver"], claims["aud"], claims["appid"]) == ("1.0", f"api://{CLIENT}", PUBLIC)
        assert claims["iss"] == f"https://sts.windows.net/{TENANT}/" and claims["upn"] == "local.user@example.test"
        configure(env_for(v1))
        me = await call("me", token=body["access_token"])
        assert me.status_code == 200 and body_of(me)["token_version"] == "1.0"


def test_a_garbled_request_is_an_error_not_a_crash(entra: LocalAuthority) -> None:
    host, port = urlsplit(entra.url).hostname, urlsplit(entra.url).port
    assert host is not None and port is not None
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.sendall(f"POST /{TENANT}/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n".encode())
        chunks = []
        while chunk := raw.recv(65536):  # HTTP/1.0: the answer ends when the authority closes
            chunks.append(chunk)
    answer = b"".join(chunks).decode("latin-1")
    assert answer.startswith("HTTP/1.0 400") and "9002313" in answer


def test_a_confidential_client_redeems_a_code_with_a_signed_assertion(entra: LocalAuthority) -> None:
    """What an OAuth facade in front of this authority does: sign the user in upstream, prove itself with its key."""
    pair = pkce()
    code = code_for(entra, pair, client_id=KEY_CLIENT, redirect_uri=FACADE_REDIRECT)
    proof = {
        "client_id": KEY_CLIENT,
        "redirect_uri": FACADE_REDIRECT,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    answer = redeem(entra, code, pair, **proof, client_assertion=assertion(entra))
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert (claims["azp"], claims["azpacr"], claims["scp"]) == (KEY_CLIENT, "2", "user_impersonation")
    # Without its proof the same client's code is refused.
    code = code_for(entra, pair, client_id=KEY_CLIENT, redirect_uri=FACADE_REDIRECT)
    refused(
        redeem(entra, code, pair, client_id=KEY_CLIENT, redirect_uri=FACADE_REDIRECT), "invalid_client", 7000218, 401
    )


def test_a_client_proves_itself_one_way_only(entra: LocalAuthority) -> None:
    form = {"grant_type": "client_credentials", "scope": f"api://{CLIENT}/.default", "client_id": KEY_CLIENT}
    both = {**form, "client_secret": "x", "client_assertion": assertion(entra)}
    refused(httpx2.post(token_url(entra), data=both), "invalid_request", 9002313)
    untyped = {**form, "client_assertion": assertion(entra)}
    refused(httpx2.post(token_url(entra), data=untyped), "invalid_request", 900144)
