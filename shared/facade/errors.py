"""OAuth error answers: JSON from the endpoints a client calls, a redirect back to a verified client, or a page.

Descriptions are our own words; a code, token, state, secret or verifier never appears in one.
"""

from __future__ import annotations

import html
import json
from urllib.parse import urlencode, urlsplit, urlunsplit

import azure.functions as func

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The pages: no script at all, no framing (clickjacking the consent button), forms post to ourselves only
# (and, since browsers apply form-action to the redirect a form's answer makes, to where that leads).
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'{targets}; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def json_answer(body: object, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        mimetype="application/json",
        headers={**NO_STORE, **(headers or {})},
    )


def error_json(error: OAuthError) -> func.HttpResponse:
    headers = {"Retry-After": "60"} if error.status in (429, 503) else None
    return json_answer({"error": error.error, "error_description": error.description}, error.status, headers)


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def redirect(location: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(status_code=302, headers={**NO_STORE, "Location": location, **(headers or {})})


def redirect_error(redirect_uri: str, error: OAuthError, state: str | None, issuer: str) -> func.HttpResponse:
    """The error sent to a client's redirect URI: only once the client and that URI are verified."""
    params = {"error": error.error, "error_description": error.description, "iss": issuer}
    if state is not None:
        params["state"] = state
    return redirect(with_query(redirect_uri, params))


def source(url: str) -> str:
    """A CSP source for where `url` leads: its origin, or its scheme for a private-use one (`cursor:`)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


def page(
    title: str,
    body_html: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    form_targets: tuple[str, ...] = (),
) -> func.HttpResponse:
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}
.warn{{background:#fff4ce;padding:.5rem 1rem;border-radius:4px}} code{{word-break:break-all}}
button{{font-size:1rem;padding:.5rem 1.5rem;margin-right:1rem}}</style></head>
<body><h1>{html.escape(title)}</h1>
{body_html}
</body></html>"""
    security = {
        "Content-Security-Policy": PAGE_CSP.format(targets="".join(f" {t}" for t in form_targets)),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return func.HttpResponse(
        document,
        status_code=status,
        mimetype="text/html",
        charset="utf-8",
        headers={**NO_STORE, **security, **(headers or {})},
    )


def error_page(error: OAuthError) -> func.HttpResponse:
    """When there is no verified redirect URI to send the error to, the browser is told, and goes nowhere."""
    reason, code = html.escape(error.description), html.escape(error.error)
    body = f"<p>This sign-in request was refused: {reason}</p><p><code>{code}</code></p>"
    return page("Sign-in refused", body, error.status)
