"""The `/docs` page: Swagger UI rendering `/openapi.json`, with its assets.

Swagger UI is served from the `swagger-ui-bundle-v2` package, never a CDN, and its files are read
on first request only: importing this module reads no file. The page runs under `DOCS_CSP`, a
policy without 'unsafe-inline', so its start-up script is an asset too (`docs-init.js`).
"""

from __future__ import annotations

import html
from functools import cache
from urllib.parse import urlsplit

from shared.settings import PUBLIC_AUTHORITY_HOST

DOCS_PATH = "/docs"
_CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
}
# The only files of the package ever served: names are matched exactly, so no path can reach another file.
_VENDOR_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "index.css",
        "favicon-32x32.png",
        # The sign-in popup lands on these: they hand the authorization code back to the page.
        "oauth2-redirect.html",
        "oauth2-redirect.js",
    }
)

# Configuration travels in data- attributes of the page: a script served as a file cannot be templated per site.
_INIT_JS = """\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Next to this script, not Swagger UI's default (the page's folder, where nothing is served).
    oauth2RedirectUrl: new URL("oauth2-redirect.html", document.currentScript.src).href
  });
  window.ui.initOAuth({
    clientId: root.dataset.clientId || undefined,
    // Entra ID requires PKCE from a browser, and a browser must never hold a client secret.
    usePkceWithAuthorizationCodeGrant: true
  });
})();
"""
_OWN_ASSETS = {"docs-init.js": _INIT_JS.encode()}
DOCS_ASSETS = tuple(sorted(_VENDOR_ASSETS | _OWN_ASSETS.keys()))


def docs_csp(authority: str = PUBLIC_AUTHORITY_HOST) -> str:
    """The Content-Security-Policy of the docs page and its assets.

    `connect-src` names the authority's origin because Swagger UI redeems the authorization code
    with a `fetch` to its token endpoint; `data:` images are the icons inside swagger-ui.css.
    """
    parts = urlsplit(authority)
    token_origin = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self'{token_origin}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


# Public Entra ID; sovereign clouds need `docs_csp(settings.authority)` instead.
DOCS_CSP = docs_csp()


def docs_page(openapi_url: str = "/openapi.json", *, client_id: str = "") -> str:
    """The HTML of `/docs`; `client_id` pre-fills Swagger UI's sign-in dialog (it stays editable)."""
    url, client = html.escape(openapi_url), html.escape(client_id)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API documentation</title>
<link rel="stylesheet" href="{DOCS_PATH}/swagger-ui.css">
<link rel="stylesheet" href="{DOCS_PATH}/index.css">
<link rel="icon" type="image/png" href="{DOCS_PATH}/favicon-32x32.png">
<script defer src="{DOCS_PATH}/swagger-ui-bundle.js"></script>
<script defer src="{DOCS_PATH}/docs-init.js"></script>
</head>
<body>
<noscript>This page needs JavaScript. The API description itself is at <a href="{url}">{url}</a>.</noscript>
<div id="swagger-ui" data-openapi-url="{url}" data-client-id="{client}"></div>
</body>
</html>
"""


def docs_asset(name: str) -> tuple[bytes, str] | None:
    """An asset of the docs page and its content type, or None for any name outside `DOCS_ASSETS`.

    Raises ImportError when swagger-ui-bundle-v2 is not installed: a broken deployment, not a 404.
    """
    if name in _OWN_ASSETS:
        return _OWN_ASSETS[name], _content_type(name)
    if name not in _VENDOR_ASSETS:
        return None
    return _vendor_file(name), _content_type(name)


def _content_type(name: str) -> str:
    return _CONTENT_TYPES[name[name.rindex(".") :]]


@cache
def _vendor_file(name: str) -> bytes:
    # Imported here, not at the top: the package is needed by the docs page only, never on the path of an API call.
    from swagger_ui_bundle import swagger_ui_path

    return (swagger_ui_path / name).read_bytes()
