"""Who is calling the token endpoint: a client id, and for confidential clients its proof.

Entra accepts a client secret in the body (`client_secret_post`) or in HTTP Basic
(`client_secret_basic`), or a signed JWT (`private_key_jwt`, RFC 7523). A public client sends
neither; a confidential one must send one whenever it authenticates, and always for client
credentials.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

import jwt

from devhost.directory import Client, Directory
from devhost.oauth_errors import duplicated, invalid_client, malformed, missing, unknown_client

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class AssertionReplay:
    """`jti`s of accepted client assertions, kept until they expire, so each is used once."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, jti: str, expires: float) -> bool:
        now = time.time()
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            if jti in self._seen:
                return False
            self._seen[jti] = expires
            return True


@dataclass(frozen=True)
class Caller:
    client: Client
    # Entra's `azpacr`/`appidacr`: 0 public client, 1 client secret, 2 certificate or key.
    acr: str


def identify(
    directory: Directory,
    form: Mapping[str, str],
    authorization: str | None,
    audiences: Iterable[str],
    replay: AssertionReplay,
    *,
    credentials_required: bool = False,
) -> Caller:
    """The calling client, its credential checked; an `OAuthError` when it is unknown or unproven."""
    basic_id, basic_secret = _basic(authorization)
    client_id = form.get("client_id") or basic_id
    assertion = form.get("client_assertion")
    if not client_id and assertion:
        client_id = _unverified_subject(assertion)
    if not client_id:
        raise missing("client_id")
    if basic_id and form.get("client_id") and basic_id != form["client_id"]:
        raise invalid_client(700021, "The client_id in the request body and in the Authorization header differ.")
    client = directory.client(client_id)
    if client is None:
        raise unknown_client(client_id, directory.tenant)
    secret = form.get("client_secret")
    if secret is not None and basic_secret is not None:
        raise duplicated("client_secret")
    secret = secret if secret is not None else basic_secret
    if secret is not None and assertion is not None:
        raise malformed("a client authenticates with a secret or an assertion, not both (RFC 6749 section 2.3).")
    if secret is None and assertion is None:
        if credentials_required or not client.allows_public_flows:
            raise invalid_client(
                7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
            )
        return Caller(client, "0")
    if not client.confidential:
        raise invalid_client(
            700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."
        )
    if secret is not None:
        if not client.client_secret or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
            raise invalid_client(
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client.client_id}'.",
            )
        return Caller(client, "1")
    assert assertion is not None
    if not form.get("client_assertion_type"):
        raise missing("client_assertion_type")
    if form["client_assertion_type"] != JWT_BEARER_ASSERTION:
        raise malformed(f"client_assertion_type must be '{JWT_BEARER_ASSERTION}'.")
    _check_assertion(client, assertion, list(audiences), replay)
    return Caller(client, "2")


def _basic(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client(50027, "The Authorization header is not valid HTTP Basic.") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise invalid_client(50027, "The Authorization header is not valid HTTP Basic.")
    return unquote(user), unquote(password)


def _unverified_subject(assertion: str) -> str | None:
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise invalid_client(50027, "JWT token is invalid or malformed.") from None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def _check_assertion(client: Client, assertion: str, audiences: list[str], replay: AssertionReplay) -> None:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise invalid_client(50027, "JWT token is invalid or malformed.") from None
    wanted = header.get("kid") or header.get("x5t")
    keys = [k for k in client.jwks if wanted is None or wanted in (k.get("kid"), k.get("x5t"))]
    if not keys:
        raise invalid_client(
            700027,
            "The certificate with identifier used to sign the client assertion is not registered on application "
            f"'{client.client_id}'.",
        )
    for entry in keys:
        try:
            claims = jwt.decode(
                assertion,
                jwt.PyJWK(entry).key,
                algorithms=["RS256", "PS256"],
                audience=audiences,
                options={"require": ["exp", "iss", "sub", "aud", "jti"]},
                leeway=300,
            )
        except jwt.ExpiredSignatureError:
            raise invalid_client(700024, "Client assertion is not within its valid time range.") from None
        except jwt.InvalidAudienceError:
            raise invalid_client(700021, "Client assertion audience claim does not match the token endpoint.") from None
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise invalid_client(50027, "JWT token is invalid or malformed.") from None
        if str(claims["iss"]).lower() != client.client_id or str(claims["sub"]).lower() != client.client_id:
            raise invalid_client(700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
        if not replay.first_use(str(claims["jti"]), float(claims["exp"])):
            raise invalid_client(700025, "The client assertion was already used (its jti was seen before).")
        return
    raise invalid_client(700027, "Client assertion failed signature validation.")
