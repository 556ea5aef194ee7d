"""A command-line MCP client for this server, signed in with Microsoft Entra ID: `python -m client --help`.

Modules, one job each: `cli` (the command line), `config` (flags and environment), `credentials`
(tokens through azure-identity), `session` (MCP through the SDK), `routes` (/health, /me, metadata),
`arguments` (key=value typed by a tool's schema), `errors` (what a failure means, and its exit code).
"""

__version__ = "1.0.0"
