"""What every facade endpoint needs: the settings, the store, Entra, the CIMD fetcher, and the request's issuer."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from shared.facade.cimd import CimdFetcher
from shared.facade.errors import OAuthError
from shared.facade.store import Store
from shared.facade.upstream import Upstream
from shared.settings import Settings

MAX_FORM = 8 * 1024
OIDC_SCOPES = ("offline_access", "openid", "profile", "email")
# The MCP endpoints a client may name as RFC 8707 `resource` (and the server's root).
RESOURCE_PATHS = ("/mcp", "/echo", "")


@dataclass
class Facade:
    settings: Settings
    # Every API scope a client may ask for, fully qualified (the server's, and those tools step up to).
    api_scopes: tuple[str, ...]
    store: Store = field(init=False)
    cimd: CimdFetcher = field(init=False)
    upstream: Upstream = field(init=False)

    def __post_init__(self) -> None:
        self.store = Store(self.settings)
        self.cimd = CimdFetcher(self.settings)
        self.upstream = Upstream(self.settings)


def issuer(req: func.HttpRequest) -> str:
    """The app's base URL as this request reached it: the issuer of the metadata and of every answer."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


def callback_url(req: func.HttpRequest) -> str:
    return f"{issuer(req)}/callback"


def secure(req: func.HttpRequest) -> bool:
    return urlsplit(req.url).scheme == "https"


def form(req: func.HttpRequest) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body; a name given twice is refused (RFC 6749 section 3.1)."""
    body = req.get_body()
    if len(body) > MAX_FORM:
        raise OAuthError("invalid_request", "The request body is too large.")
    if "application/x-www-form-urlencoded" not in (req.headers.get("Content-Type") or ""):
        raise OAuthError("invalid_request", "Send the parameters as application/x-www-form-urlencoded.")
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise OAuthError("invalid_request", "A parameter was sent more than once.")
    return dict(pairs)


def cookies(req: func.HttpRequest) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in (req.headers.get("Cookie") or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name not in found:
            found[name] = value
    return found


def cookie_name(req: func.HttpRequest, name: str) -> str:
    # `__Host-` (Secure, Path=/, no Domain) where the app is served over https; browsers refuse Secure
    # cookies from plain-http pages other than loopback ones, so locally the plain name is used.
    return f"__Host-{name}" if secure(req) else name


def set_cookie(req: func.HttpRequest, name: str, value: str, max_age: int) -> str:
    attributes = [f"{cookie_name(req, name)}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure(req):
        attributes.append("Secure")
    return "; ".join(attributes)
