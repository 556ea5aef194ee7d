"""The app behind `function_app.py`, one package per concern; imports point down this list only.

- `shared.web`: the HTTP routes' answers (handlers, challenges, metadata, OpenAPI, the docs page).
- `shared.runtime`: the per-process state (settings, validator, MCP bridge), built on first use.
- `shared.mcp`: the MCP server, its tools, and the bridge from a Functions request to the SDK.
- `shared.graph`: Microsoft Graph on the caller's behalf (on-behalf-of, the call, its errors).
- `shared.auth`: the security boundary: signing keys, token validation, the caller. No HTTP framework.
- `shared.settings`, `shared.collector`: the app settings, and the garbage-collector helper.

The import-linter contracts in pyproject.toml hold this order; `make test` checks them.
"""

__version__ = "1.0.0"
