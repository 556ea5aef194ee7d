"""The local authority's pages: sign in (pick or type a test user, no password), an error, and the
`form_post` response that carries the code back to the client.

Every value shown is escaped; each page's Content-Security-Policy allows only its own style (and, on
the form_post page, its own script) by hash, form posts only to where they must go, and no framing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from html import escape
from urllib.parse import urlsplit

from devhost.directory import User

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}"
    "h1{font-size:1.4rem}button{display:block;width:100%;margin:.4rem 0;padding:.6rem;font-size:1rem;"
    "text-align:left;cursor:pointer}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}"
    ".note{color:#555;font-size:.9rem}.error{border-left:4px solid #b00020;padding-left:1rem}code{word-break:break-all}"
)
AUTO_SUBMIT = "document.getElementById('response').submit();"


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def origin_of(url: str) -> str:
    """A URL's origin as a CSP source (the URL was matched against a registration before)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def headers(*, form_action: str, script: bool = False) -> dict[str, str]:
    policy = [
        "default-src 'none'",
        f"style-src {_hash(STYLE)}",
        f"form-action {form_action}",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
    if script:
        policy.append(f"script-src {_hash(AUTO_SUBMIT)}")
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "; ".join(policy),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # The code is in the next URL: no Referer carries it anywhere, and nothing caches it.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width"><style>{STYLE}</style></head>'
        f"<body>{body}</body></html>"
    ).encode()


def sign_in(
    *,
    action: str,
    transaction: str,
    client_name: str,
    scopes: Iterable[str],
    users: Iterable[User],
    login_hint: str,
    notice: str = "",
) -> bytes:
    choices = "".join(
        f'<button type="submit" name="username" value="{escape(u.username)}">{escape(u.name)} '
        f"&lt;{escape(u.username)}&gt;</button>"
        for u in users
    )
    asked = "".join(f"<li><code>{escape(s)}</code></li>" for s in scopes)
    return _page(
        "Sign in (local authority)",
        f"<h1>Sign in to {escape(client_name)}</h1>"
        '<p class="note">devhost\'s local authority: test users only, no passwords. Nothing here reaches Entra.</p>'
        f"<p>The app asks for:</p><ul>{asked}</ul>"
        + (f'<p class="error" role="alert">{escape(notice)}</p>' if notice else "")
        + f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="transaction" value="{escape(transaction)}">'
        # The typed name's button comes first: Enter in the field presses a form's first submit button.
        '<p><label for="typed">Type a user name (name@domain):</label></p>'
        f'<input id="typed" name="typed_username" value="{escape(login_hint)}" autocomplete="off">'
        '<button type="submit" name="decision" value="typed">Sign in as this user</button>'
        f"<p>or choose a test user:</p>{choices}"
        '<button type="submit" name="decision" value="cancel">Cancel</button>'
        "</form>",
    )


def error(code: int, error_name: str, description: str) -> bytes:
    return _page(
        "Sign-in error (local authority)",
        '<div class="error"><h1>Sorry, but we cannot sign you in.</h1>'
        f"<p><code>AADSTS{code}</code>: {escape(description)}</p>"
        f'<p class="note">error: <code>{escape(error_name)}</code>. Nothing was sent back to the application.</p>'
        "</div>",
    )


def form_post(redirect_uri: str, fields: Mapping[str, str]) -> bytes:
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())
    return _page(
        "Signing in (local authority)",
        f'<form id="response" method="post" action="{escape(redirect_uri)}">{hidden}'
        '<noscript><p>Script is off: continue by hand.</p><button type="submit">Continue</button></noscript>'
        f"</form><script>{AUTO_SUBMIT}</script>",
    )
