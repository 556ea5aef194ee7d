"""The tools through the SDK server: typed inputs, structured output, and tool errors that say what was wrong."""

from __future__ import annotations

from typing import Any

import pytest

from shared.auth.identity import current_caller
from shared.mcp.server import build_server

server = build_server()


async def run(name: str, **arguments: Any) -> Any:
    from mcp import Client

    async with Client(server) as client:
        return await client.call_tool(name, arguments)


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("add", {"a": 2, "b": 3.5}, 5.5),
        ("subtract", {"a": 2, "b": 3}, -1),
        ("multiply", {"a": -4, "b": 2.5}, -10),
        ("divide", {"a": 7, "b": 2}, 3.5),
        ("power", {"base": 2, "exponent": 10}, 1024),
        ("power", {"base": 4, "exponent": 0.5}, 2),
        ("sqrt", {"x": 2.25}, 1.5),
        ("echo", {"message": "héllo"}, "héllo"),
    ],
)
async def test_tools_compute(name: str, arguments: dict[str, Any], expected: Any) -> None:
    result = await run(name, **arguments)
    assert not result.is_error
    assert result.structured_content == {"result": expected}


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("divide", {"a": 1, "b": 0}, "division by zero"),
        ("sqrt", {"x": -4}, "square root of a negative"),
        ("power", {"base": 10, "exponent": 400}, "overflows"),
        ("power", {"base": -8, "exponent": 1 / 3}, "not a real number"),
        ("power", {"base": 0, "exponent": -1}, "negative power"),
        ("multiply", {"a": 1e308, "b": 10}, "overflows"),
        ("add", {"a": 1.7e308, "b": 1.7e308}, "overflows"),
        ("add", {"a": "two", "b": 1}, "a"),
        ("add", {"a": 1}, "b"),
    ],
)
async def test_tool_errors_are_results_not_crashes(name: str, arguments: dict[str, Any], message: str) -> None:
    result = await run(name, **arguments)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert message in text


async def test_tools_are_described_with_schemas() -> None:
    tools = {tool.name: tool for tool in await server.list_tools()}
    assert set(tools) == {"add", "subtract", "multiply", "divide", "power", "sqrt", "echo", "whoami", "graph_profile"}
    for tool in tools.values():
        assert tool.description, tool.name
        assert tool.output_schema is not None, tool.name
    assert tools["divide"].input_schema["required"] == ["a", "b"]
    assert tools["add"].input_schema["properties"]["a"]["type"] == "number"


async def test_whoami_without_a_caller_is_a_tool_error() -> None:
    assert current_caller.get() is None
    result = await run("whoami")
    assert result.is_error
