"""The OpenAPI document, checked against the OpenAPI 3.1 schema and against what the app really answers,
and the `/docs` page and its assets (allow-list, content types, nothing inline for the CSP to refuse)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from support import CLIENT, MCP_ACCEPT, TENANT, body_of, call, configure, mcp_request

import function_app
from devhost.server import http_functions, route_prefix, starlette_paths
from shared import __version__
from shared.auth.identity import DEVELOPER, principal_from_claims
from shared.graph.schema import PROFILE_FIELDS
from shared.settings import load_settings
from shared.web.docs_page import DOCS_ASSETS, DOCS_CSP, docs_asset, docs_csp, docs_page
from shared.web.metadata import protected_resource_metadata
from shared.web.openapi import openapi_document

ROOT = Path(__file__).resolve().parent.parent
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
SCOPE = f"api://{CLIENT}/user_impersonation"
PROTECTED = {("/mcp", "post"), ("/echo", "post"), ("/me", "get")}
ROUTES = {
    "/health": {"get"},
    "/mcp": {"post"},
    "/echo": {"post"},
    "/me": {"get"},
    "/.well-known/oauth-protected-resource": {"get"},
    "/.well-known/oauth-protected-resource/mcp": {"get"},
    "/.well-known/oauth-protected-resource/echo": {"get"},
    "/openapi.json": {"get"},
    "/.well-known/oauth-authorization-server": {"get"},
    "/register": {"post"},
    "/authorize": {"get"},
    "/consent": {"post"},
    "/callback": {"get"},
    "/token": {"post"},
    "/docs": {"get"},
}
ASSET_TYPES = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "docs-init.js": "text/javascript; charset=utf-8",
    "oauth2-redirect.js": "text/javascript; charset=utf-8",
    "oauth2-redirect.html": "text/html; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


def document(scopes: tuple[str, ...] = (SCOPE,), authority: str = AUTHORITY) -> dict[str, Any]:
    return openapi_document(base_url="https://app.example.net", version=__version__, authority=authority, scopes=scopes)


def schema(doc: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for one component schema, with the document's other components resolvable by $ref."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method): op for path, item in doc["paths"].items() for method, op in item.items()}


# The document


@pytest.mark.parametrize("scopes", [(SCOPE,), (), (SCOPE, f"api://{CLIENT}/other")])
def test_the_document_is_valid_openapi_3_1(scopes: tuple[str, ...]) -> None:
    doc = document(scopes)
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    # What /openapi.json sends must survive JSON unchanged.
    assert json.loads(json.dumps(doc)) == doc


def test_every_route_is_documented_with_its_methods_and_nothing_else() -> None:
    doc = document()
    assert {path: set(item) for path, item in doc["paths"].items()} == ROUTES
    ids = [op["operationId"] for op in operations(doc).values()]
    assert len(ids) == len(set(ids))


def test_every_route_the_app_registers_is_documented() -> None:
    documented = set(document()["paths"])
    for fn in http_functions(function_app.app):
        for path in starlette_paths(route_prefix(ROOT / "host.json"), fn.route):
            if path == "/docs/{name}":  # the docs page's own files, not part of the API
                continue
            pattern = re.sub(r"\{[^}]+\}", "[^/]+", path)
            assert any(re.fullmatch(pattern, candidate) for candidate in documented), path


def test_info_and_server_come_from_the_arguments() -> None:
    doc = openapi_document(base_url="https://app.example.net/", version="9.8.7", authority=AUTHORITY, scopes=(SCOPE,))
    assert doc["info"]["version"] == "9.8.7"
    assert doc["servers"] == [{"url": "https://app.example.net"}]


def test_each_call_builds_a_document_of_its_own() -> None:
    changed = document()
    changed["components"]["schemas"]["Error"]["required"].clear()
    changed["paths"]["/mcp"]["post"]["security"].clear()
    fresh = document()
    assert fresh["components"]["schemas"]["Error"]["required"] == ["error", "error_description"]
    assert fresh["paths"]["/mcp"]["post"]["security"] == [{"entra": [SCOPE]}, {"bearer": []}]


def test_security_is_declared_on_protected_operations_only() -> None:
    doc = document()
    assert "security" not in doc
    for key, op in operations(doc).items():
        if key in PROTECTED:
            assert op["security"] == [{"entra": [SCOPE]}, {"bearer": []}], key
        else:
            assert not op.get("security"), key


def test_any_one_of_several_scopes_is_enough() -> None:
    other = f"api://{CLIENT}/other"
    op = document((SCOPE, other))["paths"]["/me"]["get"]
    assert op["security"] == [{"entra": [SCOPE]}, {"entra": [other]}, {"bearer": []}]


def test_the_oauth2_scheme_is_entra_authorization_code() -> None:
    schemes = document(authority=AUTHORITY + "/")["components"]["securitySchemes"]
    flow = schemes["entra"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == f"{AUTHORITY}/oauth2/v2.0/authorize"
    assert flow["tokenUrl"] == f"{AUTHORITY}/oauth2/v2.0/token"
    assert set(flow["scopes"]) == {SCOPE}
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}


def test_protected_operations_document_their_refusals() -> None:
    doc = document()
    components = doc["components"]
    for key in PROTECTED:
        responses = operations(doc)[key]["responses"]
        assert {"200", "401", "403", "503"} <= set(responses), key
    assert "WWW-Authenticate" in components["responses"]["Unauthorized"]["headers"]
    assert "Retry-After" in components["responses"]["Unavailable"]["headers"]
    assert doc["paths"]["/me"]["get"]["responses"]["403"]["headers"]["WWW-Authenticate"]


def test_mcp_operations_take_a_json_rpc_body_and_its_examples_fit() -> None:
    doc = document()
    message = schema(doc, "JsonRpcMessage")
    for path in ("/mcp", "/echo"):
        body = doc["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        media = body["content"]["application/json"]
        assert media["schema"] == {"$ref": "#/components/schemas/JsonRpcMessage"}
        for example in media["examples"].values():
            message.validate(example["value"])
    response = schema(doc, "JsonRpcResponse")
    for example in doc["components"]["schemas"]["JsonRpcResponse"]["examples"]:
        response.validate(example)
    response.validate(doc["paths"]["/mcp"]["post"]["responses"]["400"]["content"]["application/json"]["example"])
    assert not message.is_valid({"jsonrpc": "1.0", "id": 1, "method": "ping"})
    assert not message.is_valid([mcp_request("ping")])


# The schemas against what the app answers: a renamed field fails here, not in a reader's client.


async def test_health_schema_matches_the_health_route() -> None:
    health = schema(document(), "Health")
    for env in ({"ENABLE_AUTH": "false"}, {}):
        configure(env)
        health.validate(body_of(await call("health", path="/health")))


async def test_error_and_json_rpc_schemas_match_the_mcp_route() -> None:
    doc = document()
    configure({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT})
    refused = await call("mcp", "POST", "/mcp", body=mcp_request("ping"))
    assert refused.status_code == 401
    schema(doc, "Error").validate(body_of(refused))

    configure({"ENABLE_AUTH": "false"})
    headers = {"Accept": MCP_ACCEPT}
    answer = await call("mcp", "POST", "/mcp", body=mcp_request("ping"), headers=headers)
    assert answer.status_code == 200
    schema(doc, "JsonRpcResponse").validate(body_of(answer))
    garbled = await call("mcp", "POST", "/mcp", body=b"{", headers={**headers, "Content-Type": "application/json"})
    assert garbled.status_code == 400
    schema(doc, "JsonRpcResponse").validate(body_of(garbled))


def test_caller_schema_matches_the_principal() -> None:
    caller = schema(document(), "Caller")
    user = principal_from_claims(
        {"tid": TENANT, "oid": "o", "sub": "s", "azp": CLIENT, "scp": "user_impersonation", "ver": "2.0", "exp": 1}
        | {"name": "Ada", "preferred_username": "ada@example.net", "upn": "ada@example.net"}
    )
    app = principal_from_claims({"tid": TENANT, "oid": "o", "roles": ["MCP.Invoke"], "ver": "1.0", "exp": 1})
    for principal in (user, app, DEVELOPER):
        caller.validate(principal.to_dict())
    caller.validate({**user.to_dict(), "graph": {"id": "x", "displayName": None, "businessPhones": []}})
    assert set(document()["components"]["schemas"]["GraphProfile"]["properties"]) == set(PROFILE_FIELDS)


def test_metadata_schema_matches_the_metadata() -> None:
    settings = load_settings({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT})
    body = protected_resource_metadata(settings, "https://app.example.net/mcp")
    schema(document(), "ProtectedResourceMetadata").validate(body)


# The docs page and its assets


def test_the_page_loads_only_allow_listed_assets_and_nothing_inline() -> None:
    page = docs_page()
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page)
    assets = [url.removeprefix("/docs/") for url in referenced if url.startswith("/docs/")]
    assert set(assets) == set(DOCS_ASSETS) - {"oauth2-redirect.html", "oauth2-redirect.js"}
    assert set(referenced) - {f"/docs/{name}" for name in assets} == {"/openapi.json"}
    # Under `script-src 'self'` an inline script or handler would simply not run.
    assert re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S) == [
        (' defer src="/docs/swagger-ui-bundle.js"', ""),
        (' defer src="/docs/docs-init.js"', ""),
    ]
    assert not re.search(r"\son\w+=|\sstyle=|<style", page)


def test_the_page_escapes_what_it_is_given() -> None:
    page = docs_page('/x"><script>alert(1)</script>', client_id='"onload="x')
    assert "<script>alert" not in page and 'data-client-id="&quot;onload=&quot;x"' in page
    assert 'data-openapi-url="/openapi.json"' in docs_page()


@pytest.mark.parametrize(("name", "content_type"), ASSET_TYPES.items())
def test_every_asset_is_served_with_its_content_type(name: str, content_type: str) -> None:
    found = docs_asset(name)
    assert found is not None
    body, served_as = found
    assert body and served_as == content_type
    assert docs_asset(name) == found


def test_the_allow_list_is_exactly_the_tested_one() -> None:
    assert sorted(ASSET_TYPES) == list(DOCS_ASSETS)


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../openapi.py",
        "../../shared/settings.py",
        "/etc/passwd",
        "swagger-ui.css/../../../__init__.py",
        "./swagger-ui.css",
        "%2e%2e%2fsettings.py",
        "..\\__init__.py",
        "SWAGGER-UI.CSS",
        "swagger-ui.css ",
        "swagger-ui.css\x00",
        "swagger-ui.css.map",
        "swagger-ui.js",
        "swagger-initializer.js",
        "index.html",
        "index.j2",
        "__init__.py",
        "openapi.json",
    ],
)
def test_anything_else_is_unknown(name: str) -> None:
    assert docs_asset(name) is None


def test_vendor_files_are_read_once_and_not_at_import() -> None:
    code = "import sys, shared.web.docs_page; sys.exit('swagger_ui_bundle' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0
    first, again = docs_asset("swagger-ui-bundle.js"), docs_asset("swagger-ui-bundle.js")
    assert first is not None and again is not None and first[0] is again[0]


def test_the_bundled_swagger_ui_renders_openapi_3_1() -> None:
    # swagger-ui-bundle (4.x, same import name) would render "Unable to render this definition" for 3.1.
    from swagger_ui_bundle import swagger_ui_path

    found = re.fullmatch(r"swagger-ui-(\d+)\.(\d+)\.(\d+)", swagger_ui_path.name)
    assert found and int(found.group(1)) >= 5, swagger_ui_path.name


def test_the_init_script_is_plain_and_local() -> None:
    found = docs_asset("docs-init.js")
    assert found is not None
    script = found[0].decode()
    assert "SwaggerUIBundle(" in script and "usePkceWithAuthorizationCodeGrant: true" in script
    assert "http" not in script and "eval(" not in script


def test_the_policy_is_strict_and_allows_the_token_endpoint() -> None:
    directives = dict(part.strip().split(" ", 1) for part in DOCS_CSP.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self' https://login.microsoftonline.com"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in DOCS_CSP
    assert "connect-src 'self' https://login.microsoftonline.us;" in docs_csp(
        f"https://login.microsoftonline.us/{TENANT}"
    )
    assert "connect-src 'self';" in docs_csp("")
