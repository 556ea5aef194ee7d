"""`{authority}/oauth2/v2.0/authorize`: the authorization code flow's front half, as Entra runs it.

GET checks the request and shows the sign-in page; the page's POST issues a code and sends it to the
client's redirect URI. Until the client and its redirect URI are known to be valid, errors are shown
on the page and nothing is redirected (no open redirect); after that they go back to the client
(RFC 6749 section 4.1.2.1). Codes live ten minutes in memory, bound to the client, the redirect URI
and the PKCE challenge; `devhost.token_endpoint` redeems them.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from devhost import signin_page
from devhost.directory import Client, Directory, User
from devhost.oauth_errors import OAuthError, malformed, missing, redirect_mismatch, unknown_client
from devhost.scopes import Requested, check_resource, parse_scopes

if TYPE_CHECKING:
    from devhost.authority import SigningKey

CODE_SECONDS = 600
PENDING_SECONDS = 600
CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
PROMPTS = frozenset({"login", "select_account", "consent", "create"})


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Grant:
    """What a code or a refresh token stands for."""

    client_id: str
    user: User
    requested: Requested
    # Scopes the user agreed to on the page: a refresh may ask for these and no more.
    consented: frozenset[str]
    nonce: str | None
    expires: float
    redirect_uri: str = ""
    code_challenge: str = ""
    # Tokens from one code share a family: replaying the code revokes them all.
    family: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Pending:
    client: Client
    redirect_uri: str
    state: str | None
    response_mode: str
    code_challenge: str
    requested: Requested
    nonce: str | None
    login_hint: str
    expires: float


class SignIn:
    """The authority's sign-in state (pending sign-ins, codes, refresh tokens): in memory, gone with devhost."""

    def __init__(self, directory: Directory, issuer_base: str, key: Callable[[], SigningKey]) -> None:
        self.directory = directory
        self.issuer_base = issuer_base
        self.key = key
        # Other origins that serve this authority (its https alias), for client assertion audiences.
        self.aliases: list[str] = []
        self.lock = threading.Lock()
        self.pending: dict[str, Pending] = {}
        self.codes: dict[str, Grant] = {}
        self.redeemed: dict[str, tuple[float, str]] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.spent_refresh_tokens: dict[str, float] = {}

    # GET: check, then show the page

    def authorize(self, params: Mapping[str, str], action: str) -> Answer:
        try:
            client, redirect_uri = self._client_and_redirect(params)
        except OAuthError as refused:
            return self.error_page(refused)
        state = params.get("state")
        mode = params.get("response_mode") or "query"
        if mode not in ("query", "form_post"):
            refused = malformed(f"response_mode '{mode}' is not supported; use query or form_post.")
            return deliver(redirect_uri, "query", refused.redirect_params(), state)
        try:
            pending = self._check(params, client, redirect_uri, mode)
        except OAuthError as refused:
            return deliver(redirect_uri, mode, refused.redirect_params(), state)
        transaction = secrets.token_urlsafe(24)
        with self.lock:
            self.purge_expired()
            self.pending[transaction] = pending
        return self._page(pending, transaction, action)

    def _client_and_redirect(self, params: Mapping[str, str]) -> tuple[Client, str]:
        client_id = params.get("client_id")
        if not client_id:
            raise missing("client_id")
        client = self.directory.client(client_id)
        if client is None:
            raise unknown_client(client_id, self.directory.tenant)
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri:
            raise missing("redirect_uri")
        if not client.allows_redirect(redirect_uri):
            raise redirect_mismatch(redirect_uri, client.client_id)
        return client, redirect_uri

    def _check(self, params: Mapping[str, str], client: Client, redirect_uri: str, mode: str) -> Pending:
        response_type = params.get("response_type")
        if not response_type:
            raise missing("response_type")
        if response_type != "code":
            raise OAuthError(
                "unsupported_response_type",
                70005,
                f"response_type '{response_type}' is not enabled for the application.",
            )
        scope = params.get("scope")
        if not scope:
            raise missing("scope")
        requested = parse_scopes(self.directory, scope)
        check_resource(self.directory, params.get("resource"))
        challenge = params.get("code_challenge")
        if not challenge:
            raise missing("code_challenge")
        if params.get("code_challenge_method") != "S256":
            raise malformed(
                "code_challenge_method must be S256; 'plain' (also what a missing method means) is refused."
            )
        if not CHALLENGE.match(challenge):
            raise OAuthError("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
        prompt = params.get("prompt")
        if prompt == "none":
            raise OAuthError("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
        if prompt is not None and prompt not in PROMPTS:
            raise malformed(f"prompt '{prompt}' is not one of none, login, select_account, consent, create.")
        return Pending(
            client=client,
            redirect_uri=redirect_uri,
            state=params.get("state"),
            response_mode=mode,
            code_challenge=challenge,
            requested=requested,
            nonce=params.get("nonce"),
            login_hint=params.get("login_hint") or "",
            expires=time.time() + PENDING_SECONDS,
        )

    def _page(self, pending: Pending, transaction: str, action: str, notice: str = "") -> Answer:
        body = signin_page.sign_in(
            action=action,
            transaction=transaction,
            client_name=pending.client.name,
            scopes=[*pending.requested.qualified.split(), *sorted(pending.requested.oidc)],
            users=self.directory.users,
            login_hint=pending.login_hint,
            notice=notice,
        )
        form_action = f"'self' {signin_page.origin_of(pending.redirect_uri)}"
        return Answer(200, signin_page.headers(form_action=form_action), body)

    # POST: the page's answer

    def submit(self, form: Mapping[str, str], action: str) -> Answer:
        transaction = form.get("transaction") or ""
        with self.lock:
            pending = self.pending.pop(transaction, None)
        if pending is None or pending.expires < time.time():
            return self.error_page(
                malformed("this sign-in page expired or was already used; start again from the app.")
            )
        if form.get("decision") == "cancel":
            refused = OAuthError("access_denied", 65004, "User declined to consent to access the app.")
            return deliver(pending.redirect_uri, pending.response_mode, refused.redirect_params(), pending.state)
        chosen = form.get("typed_username") if form.get("decision") == "typed" else form.get("username")
        username = (chosen or "").strip()
        user = self.directory.user(username)
        if user is None:
            again = secrets.token_urlsafe(24)
            with self.lock:
                self.pending[again] = pending
            return self._page(pending, again, action, notice="Type a user name such as someone@example.test.")
        code = secrets.token_urlsafe(48)
        grant = Grant(
            client_id=pending.client.client_id,
            user=user,
            requested=pending.requested,
            consented=frozenset(pending.requested.api_scopes),
            nonce=pending.nonce,
            expires=time.time() + CODE_SECONDS,
            redirect_uri=pending.redirect_uri,
            code_challenge=pending.code_challenge,
        )
        with self.lock:
            self.codes[code] = grant
        fields = {"code": code, "session_state": str(uuid.uuid4())}
        return deliver(pending.redirect_uri, pending.response_mode, fields, pending.state)

    def error_page(self, refused: OAuthError) -> Answer:
        body = signin_page.error(refused.code, refused.error, refused.description)
        return Answer(400, signin_page.headers(form_action="'none'"), body)

    def purge_expired(self) -> None:
        """Drop what has expired (called with the lock held, wherever something is added): a devhost that
        only refreshes tokens for days keeps no more than what is still valid."""
        now = time.time()
        for store in (self.pending, self.codes, self.refresh_tokens):
            for key in [k for k, v in store.items() if v.expires < now]:
                del store[key]
        self.redeemed = {k: v for k, v in self.redeemed.items() if v[0] > now}
        self.spent_refresh_tokens = {k: v for k, v in self.spent_refresh_tokens.items() if v > now}


def deliver(redirect_uri: str, mode: str, fields: Mapping[str, str], state: str | None) -> Answer:
    """Send `fields` (and `state`) to a redirect URI that was checked against the client's registration."""
    fields = {**fields, **({"state": state} if state is not None else {})}
    if mode == "form_post":
        headers = signin_page.headers(form_action=signin_page.origin_of(redirect_uri), script=True)
        return Answer(200, headers, signin_page.form_post(redirect_uri, fields))
    separator = "&" if "?" in redirect_uri else "?"
    headers = {"Location": redirect_uri + separator + urlencode(fields), "Cache-Control": "no-store"}
    return Answer(302, {**headers, "Referrer-Policy": "no-referrer"})
