"""`GET /authorize` and `POST /consent`: the MCP client's request checked, the user's consent, then Entra.

Until the client and its redirect URI are verified, errors are shown on a page (never redirected:
that would be an open redirect). After, they go back to the client as RFC 6749 errors with its
`state` and our `iss` (RFC 9207). The transaction (10 minutes) is sealed in the store under a random
id that only the consent form carries; the consent needs the CSRF token of that rendering both in
the form and in a SameSite cookie, so another site cannot submit it for the user. Only then is the
upstream `state` made (single use, 10 minutes), with our own PKCE for Entra.
"""

from __future__ import annotations

import hmac
import logging
import re

import azure.functions as func

from shared.facade import consent, seal, store
from shared.facade.cimd import is_cimd_client_id
from shared.facade.clients import Client, load
from shared.facade.consent_page import consent_page
from shared.facade.core import OIDC_SCOPES, RESOURCE_PATHS, Facade, callback_url, cookie_name, cookies, form, issuer
from shared.facade.core import set_cookie as cookie_header
from shared.facade.errors import OAuthError, error_page, redirect, redirect_error
from shared.facade.upstream import authorize_url

log = logging.getLogger(__name__)

TRANSACTION_TTL = 600
STATE_TTL = 600
CSRF_COOKIE = "mcp-csrf"
CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_STATE = 1024


def find_client(facade: Facade, client_id: str | None) -> Client:
    if not client_id:
        raise OAuthError("invalid_request", "client_id is missing.")
    if is_cimd_client_id(client_id):
        return facade.cimd.client(client_id)
    client = load(facade.store, client_id) if len(client_id) <= 64 else None
    if client is None:
        raise OAuthError("invalid_client", "No client is registered with that client_id.")
    return client


def requested_scopes(facade: Facade, raw: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the API scopes, fully qualified; every scope as asked) or OAuthError(invalid_scope)."""
    names = (raw or "").split()
    prefix = facade.settings.identifier_uri + "/"
    api: list[str] = []
    for name in names:
        if name in OIDC_SCOPES:
            continue
        qualified = name if name.startswith(prefix) else prefix + name
        if qualified not in facade.api_scopes:
            raise OAuthError("invalid_scope", "A requested scope is not one this server offers.")
        api.append(qualified)
    chosen = tuple(dict.fromkeys(api)) or facade.settings.qualified_scopes
    return chosen, tuple(dict.fromkeys(names)) or chosen


def check_resource(req: func.HttpRequest, resource: str | None) -> str:
    base = issuer(req)
    ours = {base + path for path in RESOURCE_PATHS} | {base + path + "/" for path in RESOURCE_PATHS}
    if resource is None:
        return base + "/mcp"
    if resource not in ours:
        raise OAuthError("invalid_target", "The resource is not this MCP server.")
    return resource


def authorize(facade: Facade, req: func.HttpRequest) -> func.HttpResponse:
    params = req.params
    try:
        client = find_client(facade, params.get("client_id"))
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri or not client.redirect_allowed(redirect_uri):
            raise OAuthError("invalid_request", "The redirect_uri is not one the client registered.")
    except OAuthError as refused:
        return error_page(refused)

    state = params.get("state")
    try:
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "Only response_type=code is supported.")
        # Optional, as in OAuth 2.1 (PKCE is what binds the answer; the TypeScript SDK sends none by default).
        if state is not None and (not state or len(state) > MAX_STATE):
            state = None
            raise OAuthError("invalid_request", "state, when sent, must be 1 to 1024 characters.")
        if params.get("code_challenge_method") != "S256":
            raise OAuthError("invalid_request", "PKCE is required, with code_challenge_method=S256.")
        challenge = params.get("code_challenge") or ""
        if not CHALLENGE.match(challenge):
            raise OAuthError("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters).")
        resource = check_resource(req, params.get("resource"))
        api_scopes, scopes = requested_scopes(facade, params.get("scope"))
    except OAuthError as refused:
        return redirect_error(redirect_uri, refused, state, issuer(req))

    transaction = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "challenge": challenge,
        "api_scopes": list(api_scopes),
        "scopes": list(scopes),
        "resource": resource,
    }
    jar = cookies(req)
    known_user = consent.cookie_user_for(
        facade.store, jar.get(cookie_name(req, consent.COOKIE)), client.client_id, redirect_uri
    )
    if known_user is not None:
        return to_entra(facade, req, {**transaction, "expected_user": known_user})

    txn_id, csrf = seal.new_secret(), seal.new_secret()
    transaction["csrf"] = seal.digest(csrf)
    facade.store.put(
        store.TRANSACTIONS, seal.digest(txn_id), {"sealed": seal.seal(txn_id, "txn", transaction)}, TRANSACTION_TTL
    )
    return consent_page(
        client_name=client.name,
        client_id=client.client_id,
        kind=client.kind,
        redirect_uri=redirect_uri,
        scopes=scopes,
        transaction=txn_id,
        csrf=csrf,
        set_cookie=cookie_header(req, CSRF_COOKIE, csrf, TRANSACTION_TTL),
        authority=facade.settings.authority,
    )


def decide(facade: Facade, req: func.HttpRequest) -> func.HttpResponse:
    try:
        fields = form(req)
    except OAuthError as refused:
        return error_page(refused)
    refused = OAuthError("access_denied", "This consent could not be verified; start the sign-in again.", 403)
    csrf, txn_id = fields.get("csrf") or "", fields.get("transaction") or ""
    cookie = cookies(req).get(cookie_name(req, CSRF_COOKIE)) or ""
    if not csrf or not txn_id or not hmac.compare_digest(csrf, cookie):
        log.info("Refused a consent without its CSRF token")
        return error_page(refused)
    row = facade.store.take(store.TRANSACTIONS, seal.digest(txn_id))
    if row is None:
        return error_page(refused)
    try:
        transaction = seal.open_sealed(txn_id, "txn", row["sealed"])
    except ValueError:
        return error_page(refused)
    if not hmac.compare_digest(transaction.pop("csrf"), seal.digest(csrf)):
        return error_page(refused)
    if fields.get("decision") != "approve":
        denied = OAuthError("access_denied", "The user denied the request.")
        return redirect_error(transaction["redirect_uri"], denied, transaction["state"], issuer(req))
    transaction["consented"] = True
    answer = to_entra(facade, req, transaction)
    answer.headers["Set-Cookie"] = cookie_header(req, CSRF_COOKIE, "", 0)
    return answer


def to_entra(facade: Facade, req: func.HttpRequest, transaction: dict[str, object]) -> func.HttpResponse:
    """Off to Entra with our client id, our callback, our PKCE, and a fresh single-use state."""
    upstream_state, verifier = seal.new_secret(), seal.new_secret(48)
    sealed = seal.seal(upstream_state, "state", {**transaction, "verifier": verifier})
    facade.store.put(store.STATES, seal.digest(upstream_state), {"sealed": sealed}, STATE_TTL)
    api_scopes = tuple(str(s) for s in transaction["api_scopes"])  # type: ignore[attr-defined]
    url = authorize_url(facade.settings, callback_url(req), upstream_state, seal.pkce_s256(verifier), api_scopes)
    return redirect(url)
