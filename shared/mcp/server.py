"""The MCP server: the tools on the SDK's `MCPServer`, stateless, with JSON responses."""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import Tool

from shared import __version__
from shared.auth.identity import current_caller
from shared.mcp import observe, tools
from shared.mcp.permissions import META_KEY, ToolPolicy

INSTRUCTIONS = (
    "Math tools (add, subtract, multiply, divide, power, sqrt), echo, whoami (who the server believes is "
    "calling) and graph_profile (the caller's Microsoft Graph profile, read on their behalf). Every call is "
    "authorized by the caller's Microsoft Entra ID access token."
)


class _Server(MCPServer):
    """The SDK's server, whose tools/list tells each caller what the tools they cannot use yet need."""

    def __init__(self, *args: Any, policy: ToolPolicy | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._policy = policy

    async def list_tools(self) -> list[Tool]:
        tools = await super().list_tools()
        caller = current_caller.get()
        if self._policy is None or caller is None:
            return tools
        listed = []
        for tool in tools:
            advice = self._policy.advice(tool.name, caller)
            listed.append(
                tool if advice is None else tool.model_copy(update={"meta": {**(tool.meta or {}), META_KEY: advice}})
            )
        return listed


def build_server(policy: ToolPolicy | None = None) -> MCPServer:
    """The server with every tool; with a `policy`, tools/list also says what each caller lacks."""
    # Stateless and buffered: `subscriptions/listen` would stream forever, which a Functions
    # response cannot do, so it is not offered.
    server = _Server(
        "azure-functions-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        subscriptions=False,
        log_level="WARNING",
        policy=policy,
    )
    for tool in tools.ALL:
        server.add_tool(tool, structured_output=True)
    observe.install(server._lowlevel_server, tools=frozenset(tool.__name__ for tool in tools.ALL))
    # The SDK logs a line per stateless request and a traceback per anticipated tool error;
    # in Application Insights that is noise that costs money.
    for name in ("mcp.server", "mcp.shared"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return server
