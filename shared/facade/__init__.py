"""The OAuth authorization facade over Entra ID (OAUTH_PROXY=true): the authorization server MCP clients see.

Entra has neither Dynamic Client Registration nor Client ID Metadata Documents, and refuses the RFC 8707
`resource` MCP clients send. Here the app answers those itself and keeps Entra as the identity provider:
- `metadata`: RFC 8414 authorization-server metadata;
- `registration`, `cimd`, `clients`: DCR, CIMD documents, and what a client may use as redirect URI;
- `authorize`, `consent_page`: the authorization request checked, the per-client consent, the trip to Entra;
- `callback`: Entra's code redeemed as our confidential client (`upstream`), our own code issued;
- `token`: our code and refresh tokens redeemed;
- `store`, `seal`: the state in Azure Table Storage, sealed with keys only the client's secrets derive.

Imports `shared.graph.obo` (the app's own credential), `shared.auth.fetch` (TLS) and `shared.settings`;
the routes (`shared.web.oauth_routes`) call it. It never sees the MCP server.
"""
