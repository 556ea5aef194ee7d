"""The command line: parse it, get a token if the command needs one, run the command, print JSON.

Every failure ends here as one line on stderr and a non-zero exit code (see `client.errors`);
a traceback only with --verbose.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from client.config import DEFAULT_URL, ERAS, FLOWS, AuthOptions, Target, auth_from, target_from
from client.errors import EXIT_FAILURE, EXIT_UNAVAILABLE, EXIT_USAGE, Failure

EPILOG = """\
commands:
  tools                  list the tools, their descriptions and input schemas
  call NAME [k=v ...]    call a tool; values are typed by its input schema (numbers, true/false, JSON)
  me                     GET /me: who the server says you are
  health                 GET /health (no token needed)
  token                  print the access token the chosen --auth gets (for curl or the MCP Inspector)

environment: MCP_URL, MCP_TOKEN, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_SCOPE,
  MCP_API_CLIENT_ID (the API's app id when it differs from the caller's), MANAGED_IDENTITY_CLIENT_ID.
exit codes: 0 ok, 1 tool error or unexpected answer, 2 usage, 3 sign-in (401/403/token), 4 server unreachable or 503.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other failure of this command (argparse prints the whole usage first).
        self.exit(EXIT_USAGE, f"error: {message} (see python -m client --help)\n")


def _options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The common options. Added to the main parser and, with defaults suppressed, to each command,
    so they may come before or after the command name."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--url", default=default(None), help=f"the MCP endpoint (env MCP_URL; default {DEFAULT_URL})")
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--auth",
        choices=FLOWS,
        metavar="FLOW",
        default=default(None),
        help=f"get a token from Microsoft Entra ID: {', '.join(FLOWS)}",
    )
    how.add_argument("--token", default=default(None), help="send this bearer token (or env MCP_TOKEN)")
    parser.add_argument("--tenant", default=default(None), help="tenant id (env AZURE_TENANT_ID)")
    parser.add_argument(
        "--client-id",
        default=default(None),
        help="the app that signs in (env AZURE_CLIENT_ID), or a user-assigned managed identity "
        "(env MANAGED_IDENTITY_CLIENT_ID) for managed-identity/default",
    )
    parser.add_argument(
        "--client-secret",
        default=default(None),
        help="secret for client-secret (prefer env AZURE_CLIENT_SECRET: flags show in process lists)",
    )
    parser.add_argument(
        "--api-client-id",
        default=default(None),
        help="the API's app id when it is not the caller's (env MCP_API_CLIENT_ID); the scope is api://<id>/...",
    )
    parser.add_argument("--scope", default=default(None), help="the exact scope to request (env AZURE_SCOPE)")
    parser.add_argument("--era", choices=ERAS, default=default("auto"), help="MCP protocol era (default: auto)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default(False), help="log and trace")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m client",
        description="Call the Azure Functions MCP server, signed in with Microsoft Entra ID.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    common = _Parser(add_help=False)
    _options(common, suppress=True)
    commands.add_parser("tools", parents=[common], help="list the tools")
    call = commands.add_parser("call", parents=[common], help="call a tool")
    call.add_argument("name", help="the tool")
    call.add_argument("arguments", nargs="*", metavar="key=value", help="its arguments")
    commands.add_parser("me", parents=[common], help="GET /me")
    commands.add_parser("health", parents=[common], help="GET /health")
    commands.add_parser("token", parents=[common], help="print the access token")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.auth and args.token:
        parser.error("--auth and --token exclude each other")
    env = os.environ if env is None else env
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    else:
        # Library logging (the SDK logs tracebacks for some errors) stays off the terminal: every
        # failure is reported once, below. A handler on the root keeps Python's last-resort one quiet.
        logging.getLogger().addHandler(logging.NullHandler())
    try:
        result = run(args, target_from(args, env), auth_from(args, env))
    except Failure as failure:
        print(f"error: {failure.message}", file=sys.stderr)
        return failure.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or a surprise: still one line, unless asked for details
        if args.verbose:
            traceback.print_exc()
        hint = "" if args.verbose else " (run with --verbose for details)"
        print(f"error: unexpected {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        return EXIT_FAILURE
    if args.command == "token":
        print(result)
    elif result is not None:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def run(args: argparse.Namespace, target: Target, auth: AuthOptions) -> Any:
    from client import routes

    if args.command == "health":
        body = routes.get_json(target.route("health"))
        status = body.get("status") if isinstance(body, dict) else None
        if status != "ok":
            print(json.dumps(body, indent=2, ensure_ascii=False))
            problems = "; ".join(body.get("problems") or ()) if isinstance(body, dict) else ""
            raise Failure(f"the server reports status {status!r}: {problems or 'no details'}", EXIT_UNAVAILABLE)
        return body

    from client.credentials import acquire_token

    token = acquire_token(auth, lambda: routes.discover_scopes(target))
    if args.command == "token":
        if not token:
            raise Failure("no token: choose --auth (or --token / MCP_TOKEN)", EXIT_USAGE)
        return token
    if args.command == "me":
        return routes.get_json(target.route("me"), token)
    return asyncio.run(_mcp(args, target, token))


async def _mcp(args: argparse.Namespace, target: Target, token: str | None) -> Any:
    from client import session
    from client.arguments import ArgumentError, parse_arguments

    async with session.connect(target, token, args.era) as client:
        tools = await session.list_tools(client)
        if args.command == "tools":
            return session.describe_tools(client, tools)
        tool = next((t for t in tools if t.name == args.name), None)
        if tool is None:
            known = ", ".join(t.name for t in tools) or "none"
            raise Failure(f"the server has no tool {args.name!r}; its tools are: {known}", EXIT_USAGE)
        try:
            arguments = parse_arguments(tool.name, tool.input_schema, args.arguments)
        except ArgumentError as exc:
            raise Failure(str(exc), EXIT_USAGE) from None
        return await session.call_tool(client, tool.name, arguments)
