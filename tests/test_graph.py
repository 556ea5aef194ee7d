"""Microsoft Graph as the signed-in user: the on-behalf-of exchange, its cache, and errors a client can act on.

Everything runs against `graph_fixtures.FakeEntraGraph`, one loopback HTTPS server that is the
authority (discovery and keys for the app's validation, the v2 token endpoint for the exchange)
and Graph. azure-identity and MSAL run for real; only the managed identity is replaced, at the
`ManagedIdentityCredential` boundary.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import azure.functions as func
import azure.identity
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from graph_fixtures import JWT_BEARER, FakeEntraGraph, Reply, TlsFiles, entra_error, make_tls
from support import CLIENT, MCP_ACCEPT, TENANT, body_of, call, challenge, configure, mcp_request

from devhost.authority import SigningKey
from shared import runtime
from shared.auth.identity import Principal, current_assertion, current_caller
from shared.graph import errors as graph_errors
from shared.graph import obo
from shared.graph import profile as graph

SECRET = "test-client-secret-value"
MI_CLIENT = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
MI_ASSERTION = "managed-identity-token-for-exchange"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLAIMS = '{"access_token":{"capolids":{"essential":true,"values":["9ab03e19-ed42-4168-b6b7-7001fb3e933a"]}}}'


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def entra(tls: TlsFiles, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEntraGraph]:
    # `requests` (under azure-identity's transport and the app's own fetches) trusts the test CA only.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca))  # requests: the on-behalf-of exchange and Graph
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))  # httpx2: the validator's discovery and keys
    fake = FakeEntraGraph(tls, signing_key).start()
    yield fake
    fake.stop()


def graph_env(entra: FakeEntraGraph, **extra: str | None) -> dict[str, str]:
    env: dict[str, str | None] = {
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": CLIENT,
        "AZURE_AUTHORITY": entra.authority(TENANT),
        "AZURE_CLIENT_SECRET": SECRET,
        "GRAPH_URL": entra.url,
        **extra,
    }
    return {k: v for k, v in env.items() if v is not None}


def user_token(entra: FakeEntraGraph, **claims: Any) -> str:
    """A user who signed in for the tool too (graph_profile needs Profile.Read besides the server-wide scope)."""
    return entra.mint(TENANT, CLIENT, claims={"scp": "user_impersonation Profile.Read", **claims})


async def me_graph(token: str) -> func.HttpResponse:
    return await call("me", params={"graph": "true"}, token=token)


async def tool(token: str) -> dict[str, Any]:
    """`graph_profile` through POST /mcp: the bridge sets the caller and their token for the tool."""
    response = await call(
        "mcp",
        "POST",
        "/mcp",
        token=token,
        headers={"Accept": MCP_ACCEPT},
        body=mcp_request("tools/call", {"name": "graph_profile", "arguments": {}}),
    )
    assert response.status_code == 200, response.get_body()
    return body_of(response)["result"]


def tool_error(result: dict[str, Any]) -> str:
    assert result["isError"] is True, result
    return result["content"][0]["text"]


def assert_nothing_secret(response: func.HttpResponse, entra: FakeEntraGraph, *also: str) -> None:
    """No token the server holds and no secret reaches a response, in its body or its headers."""
    text = response.get_body().decode() + json.dumps(dict(response.headers))
    for secret in (SECRET, MI_ASSERTION, *entra.issued, *also):
        assert secret not in text


# The exchange


async def test_profile_through_on_behalf_of(entra: FakeEntraGraph) -> None:
    configure(graph_env(entra))
    token = user_token(entra)

    plain = await call("me", token=token)
    assert plain.status_code == 200 and "graph" not in body_of(plain)
    assert entra.token_requests == []

    response = await me_graph(token)
    assert response.status_code == 200, response.get_body()
    body = body_of(response)
    assert body["kind"] == "user"
    assert body["graph"] == {
        "id": body["oid"],
        "displayName": "Local User",
        "givenName": "Local",
        "surname": "User",
        "userPrincipalName": "local.user@example.test",
        "mail": "local.user@example.test",
        "jobTitle": "Engineer",
        "officeLocation": None,
        "mobilePhone": None,
        "businessPhones": [],
        "preferredLanguage": "en-US",
    }

    [exchange] = entra.token_requests
    assert exchange["grant_type"] == JWT_BEARER
    assert exchange["requested_token_use"] == "on_behalf_of"
    assert exchange["assertion"] == token
    assert exchange["client_id"] == CLIENT
    assert exchange["client_secret"] == SECRET
    assert f"{entra.url}/.default" in exchange["scope"].split()

    # Graph saw the exchanged token only: the caller's token is never passed through.
    [obo_token] = entra.issued
    [seen] = entra.graph_requests
    assert seen["Authorization"] == f"Bearer {obo_token}"
    assert all(token not in value for value in seen.values())
    assert_nothing_secret(response, entra, token)


async def test_the_tool_returns_the_profile(entra: FakeEntraGraph) -> None:
    configure(graph_env(entra))
    token = user_token(entra)
    result = await tool(token)
    assert result["isError"] is False
    assert result["structuredContent"]["displayName"] == "Local User"
    assert result["structuredContent"]["userPrincipalName"] == "local.user@example.test"
    [exchange] = entra.token_requests
    assert exchange["assertion"] == token
    assert entra.graph_requests[0]["Authorization"] != f"Bearer {token}"


async def test_the_tool_is_listed_with_an_output_schema(entra: FakeEntraGraph) -> None:
    from shared.mcp.server import build_server

    tools = {t.name: t for t in await build_server().list_tools()}
    described = tools["graph_profile"]
    assert "on-behalf-of" in (described.description or "")
    assert described.output_schema is not None
    assert "displayName" in described.output_schema["properties"]


async def test_the_tool_reads_the_context_variables(entra: FakeEntraGraph) -> None:
    """The tool on the in-memory SDK client: who calls, with which token and settings come from the ContextVars."""
    from mcp import Client

    from shared.mcp.context import current_settings
    from shared.mcp.server import build_server

    rt = configure(graph_env(entra))
    token = user_token(entra)
    caller = await rt.validator.validate(token)
    caller_reset, assertion_reset = current_caller.set(caller), current_assertion.set(token)
    settings_reset = current_settings.set(rt.settings)
    try:
        async with Client(build_server()) as client:
            result = await client.call_tool("graph_profile", {})
    finally:
        current_caller.reset(caller_reset)
        current_assertion.reset(assertion_reset)
        current_settings.reset(settings_reset)
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["id"] == caller.oid


# The cache


async def test_a_second_call_makes_no_token_request(entra: FakeEntraGraph) -> None:
    configure(graph_env(entra))
    token = user_token(entra)
    for _ in range(3):
        assert (await me_graph(token)).status_code == 200
    assert (await tool(token))["isError"] is False
    assert len(entra.token_requests) == 1
    assert len(entra.graph_requests) == 4

    # Another user is exchanged for separately; so is a new token of the same user.
    assert (await me_graph(user_token(entra, oid="11111111-0000-4000-8000-000000000002"))).status_code == 200
    assert (await me_graph(user_token(entra, jti="another-token"))).status_code == 200
    assert [r["assertion"] == token for r in entra.token_requests] == [True, False, False]


async def test_concurrent_first_calls_make_one_exchange(entra: FakeEntraGraph) -> None:
    configure(graph_env(entra))
    token = user_token(entra)
    answers = await asyncio.gather(*(me_graph(token) for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert len(entra.token_requests) == 1


async def test_the_credential_map_is_bounded(entra: FakeEntraGraph) -> None:
    rt = configure(graph_env(entra))
    client = graph.client_for(rt.settings)
    client.credentials.max_credentials = 2
    tokens = [user_token(entra, oid=f"11111111-0000-4000-8000-00000000000{n}") for n in range(3)]
    for token in tokens:
        assert (await me_graph(token)).status_code == 200
    assert len(client) == 2
    # The least recently used one was dropped: its next call exchanges again; the others do not.
    assert (await me_graph(tokens[2])).status_code == 200
    assert len(entra.token_requests) == 3
    assert (await me_graph(tokens[0])).status_code == 200
    assert len(entra.token_requests) == 4


async def test_a_credential_never_outlives_its_token(entra: FakeEntraGraph) -> None:
    rt = configure(graph_env(entra))
    token = user_token(entra)
    caller = await rt.validator.validate(token)
    client = graph.client_for(rt.settings)
    expired = dataclasses.replace(caller, expires_at=int(time.time()) - rt.settings.clock_skew - 1)
    await asyncio.to_thread(client.profile, expired, token)
    await asyncio.to_thread(client.profile, expired, token)
    assert len(entra.token_requests) == 2


# Who may use it, and when it is off


async def test_an_app_only_caller_is_refused_before_any_exchange(entra: FakeEntraGraph) -> None:
    configure(graph_env(entra))
    token = entra.mint(TENANT, CLIENT, app=True, roles=("MCP.Invoke",))
    response = await me_graph(token)
    assert response.status_code == 403
    assert body_of(response)["error"] == "user_required"
    assert "app-only" in body_of(response)["error_description"]
    # The tool is for signed-in users: the call is refused at the HTTP layer, before the SDK runs it.
    call_tool = mcp_request("tools/call", {"name": "graph_profile", "arguments": {}})
    refused = await call("mcp", "POST", "/mcp", token=token, headers={"Accept": MCP_ACCEPT}, body=call_tool)
    assert refused.status_code == 403 and "app-only" in body_of(refused)["error_description"]
    assert entra.token_requests == []
    assert entra.graph_requests == []


@pytest.mark.parametrize(
    ("extra", "hint"),
    [
        ({"AZURE_CLIENT_SECRET": None}, "AZURE_CLIENT_SECRET"),
        ({"AZURE_CLIENT_SECRET": None, "MANAGED_IDENTITY_CLIENT_ID": MI_CLIENT}, "WEBSITE_INSTANCE_ID is unset"),
        ({"AZURE_CLIENT_SECRET": None, "WEBSITE_INSTANCE_ID": "instance-1"}, "set MANAGED_IDENTITY_CLIENT_ID"),
        ({"GRAPH_URL": "http://graph.example.test"}, "GRAPH_URL"),
    ],
)
async def test_off_without_a_credential_of_its_own(
    entra: FakeEntraGraph, extra: dict[str, str | None], hint: str
) -> None:
    configure(graph_env(entra, **extra))
    token = user_token(entra)
    response = await me_graph(token)
    assert response.status_code == 503
    body = body_of(response)
    assert body["error"] == "graph_unavailable"
    assert "is off" in body["error_description"] and hint in body["error_description"]
    assert hint in tool_error(await tool(token))
    assert entra.token_requests == []


async def test_off_when_authentication_is_off() -> None:
    configure({"ENABLE_AUTH": "false", "AZURE_CLIENT_SECRET": SECRET})
    response = await call("me", params={"graph": "true"})
    assert response.status_code == 503
    assert "ENABLE_AUTH=false" in body_of(response)["error_description"]


# The managed identity as the app's federated credential


class FakeManagedIdentity:
    """Stands in at the ManagedIdentityCredential boundary: no IMDS, no App Service identity endpoint."""

    made: ClassVar[list[FakeManagedIdentity]] = []
    fail: ClassVar[bool] = False

    def __init__(self, *, client_id: str | None = None, **kwargs: Any) -> None:
        self.client_id = client_id
        self.scopes: list[tuple[str, ...]] = []
        FakeManagedIdentity.made.append(self)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if FakeManagedIdentity.fail:
            raise ClientAuthenticationError("ManagedIdentityCredential authentication unavailable.")
        return AccessToken(MI_ASSERTION, int(time.time()) + 3600)


@pytest.fixture
def managed_identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The fake identity in place, and the keyword arguments every OnBehalfOfCredential is built with."""
    FakeManagedIdentity.made, FakeManagedIdentity.fail = [], False
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", FakeManagedIdentity)
    built: list[dict[str, Any]] = []
    real = azure.identity.OnBehalfOfCredential

    def spy(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(azure.identity, "OnBehalfOfCredential", spy)
    yield built


async def test_in_azure_the_managed_identity_is_the_client_assertion(
    entra: FakeEntraGraph, managed_identity: list[dict[str, Any]]
) -> None:
    # A secret is set too: in Azure the managed identity wins, and the secret is never sent.
    configure(graph_env(entra, WEBSITE_INSTANCE_ID="instance-1", MANAGED_IDENTITY_CLIENT_ID=MI_CLIENT))
    token = user_token(entra)
    response = await me_graph(token)
    assert response.status_code == 200, response.get_body()

    [kwargs] = managed_identity
    assert callable(kwargs["client_assertion_func"])
    assert "client_secret" not in kwargs
    assert kwargs["user_assertion"] == token
    [identity] = FakeManagedIdentity.made
    assert identity.client_id == MI_CLIENT
    assert identity.scopes == [("api://AzureADTokenExchange/.default",)]

    [exchange] = entra.token_requests
    assert exchange["client_assertion"] == MI_ASSERTION
    assert exchange["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    assert "client_secret" not in exchange
    assert exchange["assertion"] == token and exchange["requested_token_use"] == "on_behalf_of"
    assert_nothing_secret(response, entra, token)


async def test_a_failing_managed_identity_is_a_503(
    entra: FakeEntraGraph, managed_identity: list[dict[str, Any]]
) -> None:
    FakeManagedIdentity.fail = True
    configure(graph_env(entra, WEBSITE_INSTANCE_ID="instance-1", MANAGED_IDENTITY_CLIENT_ID=MI_CLIENT))
    response = await me_graph(user_token(entra))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "managed identity" in body_of(response)["error_description"]
    assert entra.token_requests == []


@pytest.mark.parametrize(
    ("authority", "audience"),
    [
        ("https://login.microsoftonline.com", "api://AzureADTokenExchange"),
        ("https://login.microsoftonline.us", "api://AzureADTokenExchangeUSGov"),
        ("https://login.chinacloudapi.cn", "api://AzureADTokenExchangeChina"),
    ],
)
def test_the_exchange_audience_follows_the_cloud(authority: str, audience: str) -> None:
    settings = runtime.reset(
        {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_AUTHORITY": f"{authority}/{TENANT}"}
    ).settings
    assert obo.token_exchange_scope(settings) == f"{audience}/.default"
    assert obo.authority_host(settings) == authority


# Errors from Entra ID


async def test_missing_consent_is_a_403_that_says_how_to_grant_it(entra: FakeEntraGraph) -> None:
    configure(graph_env(entra))
    token = user_token(entra)
    entra.token_replies.append(
        entra_error(
            400,
            "invalid_grant",
            (65001,),
            f"The user or administrator has not consented to use the application with ID '{CLIENT}'.",
            suberror="consent_required",
        )
    )
    response = await me_graph(token)
    assert response.status_code == 403
    body = body_of(response)
    assert body["error"] == "consent_required"
    assert f"{entra.url}/{TENANT}/adminconsent?client_id={CLIENT}" in body["error_description"]
    assert f"az ad app permission admin-consent --id {CLIENT}" in body["error_description"]
    assert entra.graph_requests == []
    assert_nothing_secret(response, entra, token)

    entra.token_replies.append(entra_error(400, "invalid_grant", (65001,), "No consent."))
    assert "User.Read" in tool_error(await tool(token))


async def test_conditional_access_becomes_a_claims_challenge(entra: FakeEntraGraph) -> None:
    configure(graph_env(entra))
    token = user_token(entra)
    entra.token_replies.append(
        entra_error(
            400,
            "interaction_required",
            (50076,),
            "Due to a configuration change made by your administrator, you must use multi-factor authentication.",
            claims=CLAIMS,
            suberror="basic_action",
        )
    )
    response = await me_graph(token)
    assert response.status_code == graph_errors.CLAIMS_CHALLENGE_STATUS == 403
    params = challenge(response)
    assert params["error"] == "insufficient_claims"
    assert params["realm"] == ""
    assert params["authorization_uri"] == f"{entra.authority(TENANT)}/oauth2/v2.0/authorize"
    assert base64.b64decode(params["claims"]).decode() == CLAIMS
    assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource")
    assert body_of(response)["error"] == "insufficient_claims"
    assert_nothing_secret(response, entra, token)

    # A failure is not remembered: once Entra is satisfied, the same call succeeds.
    assert (await me_graph(token)).status_code == 200
    assert len(entra.token_requests) == 2

    entra.token_replies.append(entra_error(400, "interaction_required", (50076,), "MFA.", claims=CLAIMS))
    message = tool_error(await tool(user_token(entra, jti="fresh")))
    assert base64.b64encode(CLAIMS.encode()).decode() in message


@pytest.mark.parametrize(
    ("reply", "status", "error"),
    [
        (
            entra_error(400, "interaction_required", (53003,), "Blocked by Conditional Access."),
            403,
            "interaction_required",
        ),
        (
            entra_error(400, "invalid_grant", (500133,), "Assertion is not within its valid time range."),
            401,
            "invalid_token",
        ),
        (
            entra_error(401, "invalid_client", (7000215,), "Invalid client secret provided."),
            502,
            "server_credential_rejected",
        ),
        (entra_error(400, "invalid_grant", (50013,), "Assertion failed signature validation."), 502, "upstream_error"),
        (entra_error(500, "server_error", (90033,), "A transient error has occurred."), 503, "temporarily_unavailable"),
        (Reply(429, {"error": "temporarily_unavailable"}, {"Retry-After": "30"}), 503, "temporarily_unavailable"),
    ],
)
async def test_entra_errors_map_to_answers_a_client_can_act_on(
    entra: FakeEntraGraph, reply: Reply, status: int, error: str
) -> None:
    configure(graph_env(entra))
    token = user_token(entra)
    entra.token_replies.append(reply)
    started = time.monotonic()
    response = await me_graph(token)
    # A Retry-After from Entra is passed on, never slept on.
    assert time.monotonic() - started < 5
    assert response.status_code == status, response.get_body()
    assert body_of(response)["error"] == error
    if status == 503:
        assert int(response.headers["Retry-After"]) >= 1
    if "Retry-After" in reply.headers:
        assert response.headers["Retry-After"] == reply.headers["Retry-After"]
    if status == 401:
        assert challenge(response)["error"] == "invalid_token"
    assert len(entra.token_requests) == 1
    assert entra.graph_requests == []
    assert_nothing_secret(response, entra, token)
    assert "Trace ID" not in body_of(response)["error_description"]


def test_an_unreachable_authority_is_a_503() -> None:
    settings = runtime.reset({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT}).settings
    caller = Principal(TENANT, "oid", "sub", "user", "", ("user_impersonation",), (), "2.0", int(time.time()) + 600)
    try:
        try:
            raise ServiceRequestError("connection refused")
        except ServiceRequestError as cause:
            raise ClientAuthenticationError("Authentication failed: connection refused") from cause
    except ClientAuthenticationError as exc:
        failure = graph_errors.entra_failure(exc, settings, caller)
    assert (failure.status, failure.error) == (503, "temporarily_unavailable")
    assert failure.retry_after


# Errors from Graph


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7),
        ("0", 1),
        ("999999", graph_errors.MAX_RETRY_AFTER),
        ("soon", graph_errors.DEFAULT_RETRY_AFTER),
        (None, 10),
    ],
)
def test_retry_after_is_read_and_kept_in_bounds(header: str | None, seconds: int) -> None:
    assert graph_errors.retry_after({} if header is None else {"Retry-After": header}) == seconds


def test_retry_after_may_be_a_date() -> None:
    from email.utils import formatdate

    assert 55 <= graph_errors.retry_after({"Retry-After": formatdate(time.time() + 60, usegmt=True)}) <= 60


async def test_graph_throttling_is_a_429_with_retry_after(entra: FakeEntraGraph) -> None:
    configure(graph_env(entra))
    token = user_token(entra)
    entra.graph_replies.append(
        Reply(429, {"error": {"code": "TooManyRequests", "message": "Too many requests."}}, {"Retry-After": "7"})
    )
    response = await me_graph(token)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert body_of(response)["error"] == "throttled"
    assert_nothing_secret(response, entra, token)

    entra.graph_replies.append(Reply(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "7"}))
    assert "Retry after 7 seconds" in tool_error(await tool(token))
    # Throttling does not cost the exchanged token: it is still cached.
    assert (await me_graph(token)).status_code == 200
    assert len(entra.token_requests) == 1


@pytest.mark.parametrize(
    ("reply", "status", "error"),
    [
        (Reply(503, {"error": {"code": "serviceNotAvailable"}}, {"Retry-After": "12"}), 503, "temporarily_unavailable"),
        (Reply(500, {"error": {"code": "generalException"}}), 502, "upstream_error"),
        (Reply(403, {"error": {"code": "Authorization_RequestDenied"}}), 502, "upstream_error"),
        (Reply(200, ["not", "a", "profile"]), 502, "upstream_error"),
        (
            Reply(
                401,
                {"error": {"code": "InvalidAuthenticationToken"}},
                {
                    "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                    'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", '
                    f'error="insufficient_claims", claims="{base64.b64encode(CLAIMS.encode()).decode()}"'
                },
            ),
            403,
            "insufficient_claims",
        ),
    ],
)
async def test_graph_errors_map_to_answers_a_client_can_act_on(
    entra: FakeEntraGraph, reply: Reply, status: int, error: str
) -> None:
    configure(graph_env(entra))
    token = user_token(entra)
    entra.graph_replies.append(reply)
    response = await me_graph(token)
    assert response.status_code == status, response.get_body()
    assert body_of(response)["error"] == error
    if "Retry-After" in reply.headers:
        assert response.headers["Retry-After"] == reply.headers["Retry-After"]
    if error == "insufficient_claims":
        assert base64.b64decode(challenge(response)["claims"]).decode() == CLAIMS
    assert_nothing_secret(response, entra, token)


async def test_a_token_graph_refuses_is_exchanged_afresh(entra: FakeEntraGraph) -> None:
    configure(graph_env(entra))
    token = user_token(entra)
    entra.graph_replies.append(Reply(401, {"error": {"code": "InvalidAuthenticationToken"}}))
    assert (await me_graph(token)).status_code == 502
    assert (await me_graph(token)).status_code == 200
    assert len(entra.token_requests) == 2


# Logs


async def test_logs_never_carry_a_token_or_a_secret(entra: FakeEntraGraph, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    configure(graph_env(entra))
    token = user_token(entra)
    entra.token_replies.append(entra_error(400, "interaction_required", (50076,), "MFA.", claims=CLAIMS))
    await me_graph(token)
    await me_graph(token)
    entra.graph_replies.append(Reply(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "3"}))
    await me_graph(token)
    assert entra.issued
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "On-behalf-of exchange" in logged
    for secret in (token, SECRET, *entra.issued):
        assert secret not in logged


async def test_an_unexpected_exchange_failure_is_a_502_and_forgets_the_credential(
    entra: FakeEntraGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything azure-identity raises besides an authentication error: a safe 502, and the next call starts afresh."""
    configure(graph_env(entra))
    token = entra.mint(TENANT, CLIENT)

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("something inside the library broke")

    with monkeypatch.context() as patched:
        patched.setattr(azure.identity.OnBehalfOfCredential, "get_token_info", broken)
        response = await me_graph(token)
    assert response.status_code == 502
    assert body_of(response)["error"] == "upstream_error"
    assert "inside the library" not in response.get_body().decode()
    assert len(graph.client_for(runtime.current().settings)) == 0
    assert (await me_graph(token)).status_code == 200
