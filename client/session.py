"""MCP over Streamable HTTP with the SDK's `Client`, and HTTP failures turned into explanations.

The SDK reports a 401, 403 or 503 as a bare "Server returned an error response": the status, the
`WWW-Authenticate` challenge and the server's description are gone by then. So an httpx2 response
hook looks at every answer first and ends the run on those, while they can still be explained.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import Implementation, Tool

from client import __version__
from client.config import Target
from client.errors import EXIT_FAILURE, Failure, from_response, from_transport_error, is_jsonrpc
from client.routes import warn_if_auth_off

CLIENT_INFO = Implementation(name="azure-functions-mcp-client", version=__version__)
# The SDK's own defaults: a tool may take a while, connecting should not.
TIMEOUT = httpx2.Timeout(30.0, read=300.0)


class _Watch:
    """An httpx2 response hook: raises on 401, 403 and 5xx, remembers other HTTP errors."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token
        self.last: Failure | None = None

    async def __call__(self, response: httpx2.Response) -> None:
        warn_if_auth_off(response.headers)
        status = response.status_code
        if status < 400:
            return
        body = await response.aread()
        if is_jsonrpc(body):
            return  # a JSON-RPC error: the SDK reports it with its code and message
        failure = from_response(status, response.headers, body, self.url, self.token)
        if failure is None:
            return
        if status in (401, 403) or status >= 500:
            raise failure
        # Other 4xx pass on: under `auto`, a 404 to `server/discover` is how a legacy server says
        # so, and the SDK falls back to `initialize`. Kept in case the run fails anyway.
        self.last = failure


@asynccontextmanager
async def connect(target: Target, token: str | None, era: str) -> AsyncIterator[Client]:
    """A connected MCP client; every failure on the way, or inside, comes out as a `Failure`."""
    watch = _Watch(target.mcp_url, token)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=TIMEOUT, event_hooks={"response": [watch]}) as http,
            Client(
                streamable_http_client(target.mcp_url, http_client=http), mode=era, client_info=CLIENT_INFO
            ) as client,
        ):
            yield client
    except Exception as exc:  # the SDK's task groups wrap failures in ExceptionGroups
        explained = explain(exc, watch, target.mcp_url)
        if explained is exc:
            raise
        raise explained from None


def explain(exc: BaseException, watch: _Watch, url: str) -> BaseException:
    leaves = list(_leaves(exc))
    for leaf in leaves:
        if isinstance(leaf, Failure):
            return leaf
    for leaf in leaves:
        if isinstance(leaf, httpx2.HTTPError):
            return from_transport_error(leaf, url)
    for leaf in leaves:
        if isinstance(leaf, MCPError):
            # An HTTP error the SDK could only call "Server returned an error response".
            if watch.last is not None:
                return watch.last
            return Failure(f"the server answered with an MCP error: {leaf.error.message} (code {leaf.error.code})")
    return leaves[0] if len(leaves) == 1 else exc


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


async def list_tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tools


def describe_tools(client: Client, tools: list[Tool]) -> dict[str, Any]:
    info = client.server_info
    return {
        "server": {"name": info.name, "version": info.version} if info else None,
        "protocolVersion": client.protocol_version,
        "tools": [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools],
    }


async def call_tool(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    """The tool's result: its structured content when it has some, else its content blocks."""
    result = await client.call_tool(name, arguments)
    texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    if result.is_error:
        message = " ".join(texts) or "the tool failed without a message"
        # The SDK prefixes every tool error with this; the tool's own words are what matter.
        message = message.removeprefix(f"Error executing tool {name}: ")
        raise Failure(f"tool {name} failed: {message}", EXIT_FAILURE)
    if result.structured_content is not None:
        return result.structured_content
    return [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content]
