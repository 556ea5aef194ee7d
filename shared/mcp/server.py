"""The MCP server: the tools on the SDK's `MCPServer`, stateless, with JSON responses."""

from __future__ import annotations

import logging

from mcp.server.mcpserver import MCPServer

from shared import __version__
from shared.mcp import tools

INSTRUCTIONS = (
    "Math tools (add, subtract, multiply, divide, power, sqrt), echo, whoami (who the server believes is "
    "calling) and graph_profile (the caller's Microsoft Graph profile, read on their behalf). Every call is "
    "authorized by the caller's Microsoft Entra ID access token."
)


def build_server() -> MCPServer:
    # Stateless and buffered: `subscriptions/listen` would stream forever, which a Functions
    # response cannot do, so it is not offered.
    server = MCPServer(
        "azure-functions-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        subscriptions=False,
        log_level="WARNING",
    )
    for tool in tools.ALL:
        server.add_tool(tool, structured_output=True)
    # The SDK logs a line per stateless request and a traceback per anticipated tool error;
    # in Application Insights that is noise that costs money.
    for name in ("mcp.server", "mcp.shared"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return server
