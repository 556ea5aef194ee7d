"""The OpenAPI 3.1 description of the REST routes (rendered by the `/docs` page, `shared/web/docs_page.py`)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from shared.graph.schema import PROFILE_FIELDS

Json = dict[str, Any]


def openapi_document(*, base_url: str, version: str, authority: str, scopes: tuple[str, ...]) -> Json:
    """OpenAPI 3.1.0 for every route; `scopes` are fully qualified (`api://<client-id>/user_impersonation`)."""
    authority = authority.rstrip("/")
    # Any one of the scopes will do (OpenAPI lists within a requirement are all-of); app-only tokens are plain bearer.
    protected = [{"entra": [scope]} for scope in scopes] or [{"entra": []}]
    protected.append({"bearer": []})
    mcp = _mcp_operation(protected)
    metadata = _metadata_operation()
    # A deep copy: the parts shared with every other call stay untouched whatever a caller does with its document.
    return deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Remote MCP server on Azure Functions",
                "version": version,
                "summary": "An MCP Streamable HTTP endpoint secured by Microsoft Entra ID.",
                "description": (
                    "Protected operations need an Entra ID access token for this API in `Authorization: Bearer`. "
                    "Users sign in with the authorization code flow and PKCE and need one of the delegated scopes; "
                    "apps use client credentials (`<Application ID URI>/.default`) and need one of the app roles. "
                    "Without a usable token the answer is 401 with a `WWW-Authenticate` challenge naming the "
                    "RFC 9728 metadata to sign in with."
                ),
            },
            "servers": [{"url": base_url.rstrip("/") or "/"}],
            "tags": [
                {
                    "name": "mcp",
                    "description": "Model Context Protocol over Streamable HTTP (stateless, JSON responses).",
                },
                {"name": "identity", "description": "Who the caller is."},
                {"name": "discovery", "description": "How clients find out how to sign in (RFC 9728)."},
                {"name": "service", "description": "Health and this documentation."},
                {"name": "oauth-proxy", "description": "The OAuth authorization server over Entra (OAUTH_PROXY=true)."},
            ],
            "paths": {
                "/health": {"get": _health_operation()},
                "/mcp": {"post": {**mcp, "operationId": "mcp"}},
                "/echo": {"post": {**mcp, "operationId": "echo", "summary": "MCP endpoint (its original name)"}},
                "/me": {"get": _me_operation(protected)},
                "/.well-known/oauth-protected-resource": {"get": {**metadata, "operationId": "protectedResource"}},
                "/.well-known/oauth-protected-resource/mcp": {
                    "get": {**metadata, "operationId": "protectedResourceMcp", "summary": "Metadata of /mcp"}
                },
                "/.well-known/oauth-protected-resource/echo": {
                    "get": {**metadata, "operationId": "protectedResourceEcho", "summary": "Metadata of /echo"}
                },
                "/openapi.json": {
                    "get": {
                        "tags": ["service"],
                        "operationId": "openapi",
                        "summary": "This OpenAPI document",
                        "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")},
                    }
                },
                **_oauth_proxy_paths(),
                "/docs": {
                    "get": {
                        "tags": ["service"],
                        "operationId": "docs",
                        "summary": "This page",
                        "responses": {
                            "200": {
                                "description": "Swagger UI.",
                                "content": {"text/html": {"schema": {"type": "string"}}},
                            }
                        },
                    }
                },
            },
            "components": {
                "securitySchemes": {
                    "entra": {
                        "type": "oauth2",
                        "description": "Microsoft Entra ID, authorization code flow with PKCE (no client secret).",
                        "flows": {
                            "authorizationCode": {
                                "authorizationUrl": f"{authority}/oauth2/v2.0/authorize",
                                "tokenUrl": f"{authority}/oauth2/v2.0/token",
                                "scopes": {scope: "Call this API as the signed-in user." for scope in scopes},
                            }
                        },
                    },
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "JWT",
                        "description": "An Entra ID access token for this API, obtained any other way (user or app).",
                    },
                },
                "headers": _HEADERS,
                "responses": _RESPONSES,
                "schemas": _SCHEMAS,
            },
        }
    )


def _ref(kind: str, name: str) -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: Json, description: str, headers: tuple[str, ...] = (), example: Any = None) -> Json:
    media: Json = {"schema": schema} if example is None else {"schema": schema, "example": example}
    response: Json = {"description": description, "content": {"application/json": media}}
    if headers:
        response["headers"] = {name: _ref("headers", name) for name in headers}
    return response


def _error(description: str, headers: tuple[str, ...] = ()) -> Json:
    return _json(_ref("schemas", "Error"), description, headers)


def _header(name: str, description: str) -> Json:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": {"type": "string"}}


def _text(description: str) -> Json:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _health_operation() -> Json:
    return {
        "tags": ["service"],
        "operationId": "health",
        "summary": "Liveness and configuration check",
        "description": "Always 200 while the app runs; `problems` says what keeps protected routes at 503.",
        "responses": {"200": _json(_ref("schemas", "Health"), "The app is running.")},
    }


def _mcp_operation(security: list[Json]) -> Json:
    rpc = _ref("schemas", "JsonRpcResponse")
    return {
        "tags": ["mcp"],
        "summary": "MCP endpoint",
        "description": (
            "One JSON-RPC message per POST, answered with JSON (`Accept` must include `application/json`). "
            "Stateless: no `Mcp-Session-Id` is issued, so GET (a server stream) and DELETE (a session end) "
            "answer 405 with `Allow: POST`. Requests with a foreign `Host` or `Origin` are refused "
            "(DNS rebinding protection)."
        ),
        "security": security,
        "parameters": [
            _header("MCP-Protocol-Version", "The negotiated protocol revision, on every request after `initialize`."),
            _header("Mcp-Method", "Revision 2026-07-28 on: the body's `method`, repeated."),
            _header("Mcp-Name", "Revision 2026-07-28 on: the tool, prompt or resource the body names."),
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("schemas", "JsonRpcMessage"), "examples": _MCP_EXAMPLES}},
        },
        "responses": {
            "200": _json(rpc, "The JSON-RPC response to a request."),
            "202": {"description": "A notification or a response was accepted; there is no body."},
            "400": _json(rpc, "Not JSON, or not a JSON-RPC message (a JSON-RPC error).", example=_PARSE_ERROR),
            "401": _ref("responses", "Unauthorized"),
            "403": {
                "description": "The token lacks the scope or role (`insufficient_scope`), or the `Origin` is foreign.",
                "headers": {"WWW-Authenticate": _ref("headers", "WWW-Authenticate")},
                "content": {
                    "application/json": {"schema": _ref("schemas", "Error")},
                    "text/plain": {"schema": {"type": "string"}},
                },
            },
            "406": _json(rpc, "`Accept` does not include `application/json` (a JSON-RPC error)."),
            "413": _text("The body is too large."),
            "415": _json(rpc, "`Content-Type` is not `application/json` (a JSON-RPC error)."),
            "421": _text("The `Host` header names another site."),
            "503": _ref("responses", "Unavailable"),
        },
    }


def _me_operation(security: list[Json]) -> Json:
    return {
        "tags": ["identity"],
        "operationId": "me",
        "summary": "The caller, as their validated token describes them",
        "description": (
            "`graph=true` exchanges the caller's token on-behalf-of for a Microsoft Graph token and adds their "
            "profile; it answers 503 `graph_unavailable` while the server has no credential for that exchange."
        ),
        "security": security,
        "parameters": [
            {
                "name": "graph",
                "in": "query",
                "required": False,
                "description": "`true` adds the caller's Microsoft Graph profile, fetched on their behalf (users).",
                "schema": {"type": "boolean", "default": False},
            }
        ],
        "responses": {
            "200": _json(_ref("schemas", "Caller"), "The caller."),
            "401": _ref("responses", "Unauthorized"),
            "403": _error(
                "`insufficient_scope`; with `graph=true` also `user_required` (an app token), `consent_required`, "
                "`interaction_required`, or `insufficient_claims` (a claims challenge in WWW-Authenticate).",
                ("WWW-Authenticate",),
            ),
            "502": _error("With `graph=true`: Entra ID or Microsoft Graph refused (`upstream_error`, ...)."),
            "503": _ref("responses", "Unavailable"),
        },
    }


def _metadata_operation() -> Json:
    return {
        "tags": ["discovery"],
        "summary": "Protected resource metadata (RFC 9728)",
        "description": "Where to get a token for this API and with which scopes; cacheable for an hour.",
        "responses": {
            "200": _json(_ref("schemas", "ProtectedResourceMetadata"), "The metadata."),
            "404": _error("Authentication is off, so there is nothing to sign in to."),
            "503": _error("The server is misconfigured (`server_misconfigured`).", ("Retry-After",)),
        },
    }


_HEADERS: Json = {
    "WWW-Authenticate": {
        "description": 'A bearer challenge: `Bearer resource_metadata="<RFC 9728 URL>", scope="<scopes>"`, '
        "with `error` and `error_description` when a token was refused.",
        "schema": {"type": "string"},
    },
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}},
}

_RESPONSES: Json = {
    "Unauthorized": _error("No token, or one that is not valid for this API.", ("WWW-Authenticate",)),
    "Unavailable": _error(
        "Tokens cannot be checked now (`temporarily_unavailable`: Entra ID's keys are out of reach) or the "
        "server is misconfigured (`server_misconfigured`).",
        ("Retry-After",),
    ),
}

_STRINGS: Json = {"type": "array", "items": {"type": "string"}}

_SCHEMAS: Json = {
    "Error": {
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {
            "error": {"type": "string", "examples": ["invalid_token"]},
            "error_description": {"type": "string"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "version", "auth", "problems"],
        "properties": {
            "status": {"enum": ["ok", "misconfigured"]},
            "version": {"type": "string"},
            "auth": {"enum": ["on", "off", "misconfigured"], "description": "Whether tokens are checked."},
            "environment": {"type": "string", "examples": ["production"]},
            "problems": {**_STRINGS, "description": "Configuration problems; protected routes answer 503 meanwhile."},
        },
    },
    "Caller": {
        "type": "object",
        "required": ["tid", "oid", "sub", "kind", "client_app_id", "scopes", "roles", "token_version", "expires_at"],
        "properties": {
            "tid": {"type": "string", "description": "Tenant ID."},
            "oid": {"type": "string", "description": "Object ID of the user or service principal."},
            "sub": {"type": "string"},
            "kind": {"enum": ["user", "app"], "description": "A signed-in user, or an app on its own (app-only)."},
            "client_app_id": {"type": "string", "description": "The application the token was issued to."},
            "scopes": {**_STRINGS, "description": "Delegated scopes (`scp`); empty for apps."},
            "roles": {**_STRINGS, "description": "App roles (`roles`)."},
            "token_version": {"type": "string", "examples": ["2.0"]},
            "expires_at": {"type": "integer", "description": "Token expiry, seconds since the epoch."},
            "name": {"type": "string"},
            "preferred_username": {"type": "string"},
            "upn": {"type": "string"},
            "development": {"type": "boolean", "description": "True only when authentication is off."},
            "graph": {**_ref("schemas", "GraphProfile"), "description": "Only with `graph=true`."},
        },
    },
    "GraphProfile": {
        "type": "object",
        "description": "Microsoft Graph `GET /v1.0/me`, the selected fields it returned.",
        "properties": {
            **{name: {"type": ["string", "null"]} for name in PROFILE_FIELDS},
            "businessPhones": _STRINGS,
        },
    },
    "ProtectedResourceMetadata": {
        "type": "object",
        "required": ["resource", "authorization_servers", "scopes_supported", "bearer_methods_supported"],
        "properties": {
            "resource": {"type": "string", "format": "uri"},
            "authorization_servers": {**_STRINGS, "description": "The Entra ID v2.0 issuer to sign in with."},
            "scopes_supported": {**_STRINGS, "description": "Fully qualified scopes to ask for."},
            "bearer_methods_supported": {"type": "array", "items": {"const": "header"}},
            "resource_name": {"type": "string"},
        },
    },
    "JsonRpcId": {"type": ["string", "integer"]},
    "JsonRpcMessage": {
        "description": "A request (has `id` and `method`), a notification (`method`, no `id`) or a response.",
        "anyOf": [
            {
                "type": "object",
                "required": ["jsonrpc", "method"],
                "properties": {
                    "jsonrpc": {"const": "2.0"},
                    "id": _ref("schemas", "JsonRpcId"),
                    "method": {"type": "string", "examples": ["initialize", "tools/list", "tools/call"]},
                    "params": {"type": "object"},
                },
            },
            _ref("schemas", "JsonRpcResponse"),
        ],
    },
    "JsonRpcResponse": {
        "type": "object",
        "description": "Carries `result` or `error`, never both.",
        "examples": [{"jsonrpc": "2.0", "id": 2, "result": {"tools": []}}],
        "required": ["jsonrpc", "id"],
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": {"type": ["string", "integer", "null"], "description": "The request's; null if it was unreadable."},
            "result": {"type": "object"},
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
            },
        },
    },
}

_PARSE_ERROR: Json = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error: ..."}}

_MCP_EXAMPLES: Json = {
    "initialize": {
        "summary": "Start: agree on a protocol revision",
        "value": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "swagger-ui", "version": "1.0"},
            },
        },
    },
    "tools/list": {"summary": "List the tools", "value": {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}},
    "tools/call": {
        "summary": "Call the echo tool",
        "value": {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "hello"}},
        },
    },
}


def _oauth_proxy_paths() -> Json:
    """The OAuth proxy's routes (shared/facade): 404 while OAUTH_PROXY is off. The browser steps answer pages
    and redirects; the others, OAuth's JSON."""

    def operation(op_id: str, summary: str, ok: str, answer: Json, body: str | None = None) -> Json:
        op: Json = {
            "tags": ["oauth-proxy"],
            "operationId": op_id,
            "summary": summary,
            "responses": {ok: answer, "400": _error("An OAuth error."), "404": _error("The OAuth proxy is off.")},
        }
        if body is not None:
            op["requestBody"] = {"required": True, "content": {body: {"schema": {"type": "object"}}}}
        return op

    page = {"description": "A page (consent, or where the browser goes next).", "content": {"text/html": {}}}
    moved = {"description": "The browser goes on (to Entra, or to the client's redirect URI)."}
    return {
        "/.well-known/oauth-authorization-server": {
            "get": operation("authorizationServer", "RFC 8414 metadata", "200", _json({"type": "object"}, "Metadata."))
        },
        "/register": {
            "post": operation(
                "register", "RFC 7591 registration", "201", _json({"type": "object"}, "The client."), "application/json"
            )
        },
        "/authorize": {"get": operation("authorize", "Authorization request (browser)", "200", page)},
        "/consent": {
            "post": operation(
                "consent", "The user's answer (browser)", "302", moved, "application/x-www-form-urlencoded"
            )
        },
        "/callback": {"get": operation("callback", "Entra's answer (browser)", "302", moved)},
        "/token": {
            "post": operation(
                "token",
                "Code or refresh token redeemed",
                "200",
                _json({"type": "object"}, "Tokens."),
                "application/x-www-form-urlencoded",
            )
        },
    }
