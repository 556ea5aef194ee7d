"""`GET /callback`: Entra's answer redeemed as our confidential client, and our own code sent to the MCP client.

The upstream `state` is taken once from the store (a forged or replayed one finds nothing). Entra's
code is redeemed with our PKCE verifier and our credential; its tokens are sealed under our new code,
which lives 2 minutes and is bound to the client, its redirect URI, its PKCE challenge and the consent.

A browser gets the way back to the client as a page that moves on by itself (meta refresh), not as a
302: browsers apply the sign-in page's CSP `form-action` to every redirect that follows its form, and
an identity provider's page allows its redirect URI (us), not the MCP client behind us.
"""

from __future__ import annotations

import hashlib
import html
import logging
from urllib.parse import urlsplit

import azure.functions as func
import jwt

from shared.facade import consent, seal, store
from shared.facade.core import Facade, callback_url, cookie_name, cookies, issuer
from shared.facade.core import set_cookie as cookie_header
from shared.facade.errors import OAuthError, error_page, page, redirect, redirect_error, with_query

log = logging.getLogger(__name__)

CODE_TTL = 120


def user_key(access_token: str) -> str:
    """Who signed in, from the token Entra just gave us over its authenticated back channel (tid/oid)."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    return hashlib.sha256(f"{claims.get('tid')}/{claims.get('oid') or claims.get('sub')}".encode()).hexdigest()


def callback(facade: Facade, req: func.HttpRequest) -> func.HttpResponse:
    upstream_state = req.params.get("state") or ""
    row = facade.store.take(store.STATES, seal.digest(upstream_state)) if upstream_state else None
    try:
        transaction = seal.open_sealed(upstream_state, "state", row["sealed"]) if row else None
    except ValueError:
        transaction = None
    if transaction is None:
        log.info("Refused a callback with an unknown, expired or used state")
        return error_page(OAuthError("invalid_request", "This sign-in is unknown, expired or already used.", 400))

    redirect_uri, client_state, iss = transaction["redirect_uri"], transaction["state"], issuer(req)
    if req.params.get("error") or not req.params.get("code"):
        log.info("Entra answered the sign-in with %s", req.params.get("error") or "no code")
        denied = OAuthError("access_denied", "The sign-in at Microsoft Entra ID did not complete.")
        return redirect_error(redirect_uri, denied, client_state, iss)
    api_scopes = tuple(transaction["api_scopes"])
    try:
        tokens = facade.upstream.redeem_code(req.params["code"], transaction["verifier"], callback_url(req), api_scopes)
        user = user_key(tokens["access_token"])
    except OAuthError as refused:
        error = OAuthError("server_error" if refused.status >= 500 else "access_denied", refused.description)
        return redirect_error(redirect_uri, error, client_state, iss)
    except jwt.PyJWTError:
        return redirect_error(
            redirect_uri, OAuthError("server_error", "Entra's answer was unusable."), client_state, iss
        )
    if transaction.get("expected_user") not in (None, user):
        mismatch = OAuthError("access_denied", "You signed in as someone other than who consented; start again.")
        return redirect_error(redirect_uri, mismatch, client_state, iss)

    code = seal.new_secret()
    grant = {
        "client_id": transaction["client_id"],
        "redirect_uri": redirect_uri,
        "challenge": transaction["challenge"],
        "api_scopes": list(api_scopes),
        "scopes": transaction["scopes"],
        "resource": transaction["resource"],
        "user": user,
        "access_token": tokens["access_token"],
        "expires_in": int(tokens.get("expires_in") or 3600),
        "refresh_token": tokens.get("refresh_token"),
    }
    facade.store.put(store.CODES, seal.digest(code), {"sealed": seal.seal(code, "code", grant)}, CODE_TTL)
    consent.remember(facade.store, transaction["client_id"], redirect_uri, user)
    previous = cookies(req).get(cookie_name(req, consent.COOKIE))
    remembered = consent.make_cookie(facade.store, user, transaction["client_id"], previous)
    answer = {"code": code, "iss": iss} if client_state is None else {"code": code, "state": client_state, "iss": iss}
    location = with_query(redirect_uri, answer)
    set_cookie = {"Set-Cookie": cookie_header(req, consent.COOKIE, remembered, consent.CONSENT_TTL)}
    if req.headers.get("Sec-Fetch-Mode") == "navigate":
        return onward_page(location, set_cookie)
    return redirect(location, set_cookie)


def onward_page(location: str, headers: dict[str, str]) -> func.HttpResponse:
    target = html.escape(location)
    host = html.escape(urlsplit(location).netloc or urlsplit(location).scheme + ":")
    body = f'<p>Signed in. Returning to <strong>{host}</strong>&hellip;</p><p><a href="{target}">Continue</a></p>'
    answer = page("Signed in", body, headers=headers)
    answer.headers["Refresh"] = f"0;url={location}"
    return answer
