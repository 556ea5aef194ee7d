"""The consent page: which client asks, where the answer goes, and for what, before Entra is involved.

The MCP security best practices require it of a proxy that signs every client in with one upstream
client id: without it, a site that registers its own client could send a signed-in user's browser
through us and collect a code for itself. The client's name is its own claim, so the page leads with
the redirect host, which is what decides where the code goes.
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

import azure.functions as func

from shared.facade.errors import page, source


def consent_page(
    *,
    client_name: str,
    client_id: str,
    kind: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    transaction: str,
    csrf: str,
    set_cookie: str,
    authority: str,
) -> func.HttpResponse:
    parts = urlsplit(redirect_uri)
    where = parts.netloc or f"{parts.scheme}:"
    how = "its metadata document at" if kind == "cimd" else "a registration with id"
    items = "".join(f"<li><code>{html.escape(scope)}</code></li>" for scope in scopes)
    body = f"""<p><strong>{html.escape(client_name)}</strong> wants to use this MCP server as you.</p>
<p class="warn">After you sign in, your access will be sent to <strong id="redirect-host">{html.escape(where)}</strong>
(<code>{html.escape(redirect_uri)}</code>). Continue only if you started this from that application.</p>
<p>The name above is the client's own claim; it is identified by {how} <code>{html.escape(client_id)}</code>.</p>
<p>It asks for:</p><ul>{items}</ul>
<form method="post" action="/consent">
<input type="hidden" name="transaction" value="{html.escape(transaction)}">
<input type="hidden" name="csrf" value="{html.escape(csrf)}">
<button type="submit" name="decision" value="approve" id="approve">Allow and sign in</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>"""
    # Allowing leads to Entra, denying back to the client: the form's answer redirects to one or the other.
    targets = (source(authority), source(redirect_uri))
    return page("Allow access to the MCP server?", body, headers={"Set-Cookie": set_cookie}, form_targets=targets)
