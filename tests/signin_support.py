"""Sign-in test helpers: PKCE pairs, authorize URLs, and a stand-in browser that does what a person does on the
local authority's sign-in page (pick a user, submit) and follows the answer to the client's redirect URI.

Run as a script (`python tests/signin_support.py URL`) it is the browser `webbrowser.open` starts when
`BROWSER` points at a wrapper (see `browser_command`): it signs in as $SIGNIN_USER, trusting $SIGNIN_CA, and
writes what it saw to $SIGNIN_LOG.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
FORM = re.compile(r'<form[^>]*method="post" action="([^"]+)"')


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def pkce() -> Pkce:
    verifier = secrets.token_urlsafe(64)[:86]
    digest = hashlib.sha256(verifier.encode()).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


def authorize_url(authority: str, tenant: str, **params: str) -> str:
    return f"{authority}/{tenant}/oauth2/v2.0/authorize?{urlencode(params)}"


def page_form(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the first form on a page, unescaped as a browser reads them."""
    action = FORM.search(page)
    assert action is not None, page[:500]
    return html.unescape(action.group(1)), {html.unescape(k): html.unescape(v) for k, v in HIDDEN.findall(page)}


@dataclass
class Outcome:
    """What the browser saw: the sign-in page, and what went back to the client."""

    page: str
    redirected_to: str
    fields: dict[str, str]
    final_status: int | None = None


def sign_in(url: str, username: str, *, ca: str | None = None, deliver: bool = True) -> Outcome:
    """Open `url`, sign in as `username`, and (with `deliver`) send the answer to the client's redirect URI."""
    verify: Any = ssl.create_default_context(cafile=ca) if ca else True
    with httpx2.Client(verify=verify, timeout=20) as http:
        page = http.get(url)
        assert page.status_code == 200, (page.status_code, page.text[:500])
        action, hidden = page_form(page.text)
        answer = http.post(action, data={**hidden, "username": username})
        if answer.status_code == 302:
            target = answer.headers["location"]
            fields = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
            final = http.get(target) if deliver else None
        else:
            assert answer.status_code == 200, (answer.status_code, answer.text[:500])
            target, fields = page_form(answer.text)
            final = http.post(target, data=fields) if deliver else None
        return Outcome(page.text, target, fields, final.status_code if final is not None else None)


def browser_command(directory: Path) -> Path:
    """An executable for `BROWSER`: it starts this module's sign-in in the background and returns at once, as
    a browser does (`webbrowser` waits for the command, and the client's redirect listener waits for us)."""
    script = directory / "signin-browser"
    here = Path(__file__).resolve()
    script.write_text(
        f"#!{sys.executable}\n"
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, {str(here)!r}, sys.argv[1]], start_new_session=True)\n"
    )
    script.chmod(0o755)
    return script


def main(url: str) -> None:
    log = Path(os.environ["SIGNIN_LOG"])
    try:
        outcome = sign_in(url, os.environ.get("SIGNIN_USER", "local.user@example.test"), ca=os.environ.get("SIGNIN_CA"))
        record: dict[str, Any] = {
            "authorize": url.split("?")[0],
            "query": {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()},
            "page_title": re.search(r"<h1>(.*?)</h1>", outcome.page).group(1),  # type: ignore[union-attr]
            "redirected_to": outcome.redirected_to.split("?")[0],
            "fields": sorted(outcome.fields),
            "final_status": outcome.final_status,
        }
    except Exception as exc:  # the test reads the log; a traceback here would be lost
        record = {"error": f"{type(exc).__name__}: {exc}"}
    log.write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1])


class MemoryStorage:
    """The MCP SDK's TokenStorage in memory; `client` pre-registered (Entra has no dynamic registration),
    or None for a client that registers itself (DCR, CIMD)."""

    def __init__(self, client: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client = client

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info
