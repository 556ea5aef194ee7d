"""`python -m devhost`: run function_app.py locally, the way `func start` does.

    python -m devhost [--port 7071] [--host 127.0.0.1] [--auth auto|local|entra|off] [--mode auto|worker|adapter]
    python -m devhost token [--app] [--scope S]... [--role R]... [--minutes N] [--v1]

`--auth auto` (the default) serves without authentication when ENABLE_AUTH=false is set (in the
environment or local.settings.json, as the original server's development mode), uses Entra when a
tenant is configured, and otherwise the local authority: an Entra-like issuer on loopback whose
tokens the app validates like Entra's, and which signs users in (authorization code + PKCE) for the
clients devhost/directory.py lists. The access log redacts credentials in URLs (devhost/logs.py).

On Python 3.13+ with `azure-functions-runtime` installed (requirements.txt pins it there), requests go
through Azure's own Python worker library (devhost/worker/); elsewhere through devhost's adapter
(devhost/server.py). The banner says which.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp

ROOT = Path.cwd()
# DEVHOST_STATE_DIR lets tests keep their own authority away from a developer's.
STATE_DIR = Path(os.environ.get("DEVHOST_STATE_DIR") or ROOT / ".devhost")
KEY_FILE = STATE_DIR / "signing-key.pem"
STATE_FILE = STATE_DIR / "local-authority.json"


def local_identity(port: int | None = None) -> dict[str, Any]:
    """Tenant and client ids of the local authority, made once and kept so tokens outlive restarts."""
    state: dict[str, Any] = {}
    if STATE_FILE.exists():
        state = json.loads(STATE_FILE.read_text())
    state.setdefault("tenant_id", str(uuid.uuid4()))
    state.setdefault("client_id", str(uuid.uuid4()))
    state.setdefault("port", 7072)
    if port is not None:
        state["port"] = port
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(state, indent=2))
    return state


def auto_mode(environ: Mapping[str, str]) -> str:
    """`--auth auto`: an explicit ENABLE_AUTH=false (the original server's development mode) wins; then
    Entra when a tenant is configured, else the local authority."""
    from shared.settings import load_settings

    if "ENABLE_AUTH" in environ and not load_settings(environ).auth_enabled:
        return "off"
    return "entra" if environ.get("AZURE_TENANT_ID") else "local"


def resource_uris(host: str, port: int) -> list[str]:
    """The server's own URLs as MCP clients name it (by 127.0.0.1 or by localhost), for RFC 8707 `resource`."""
    hosts = dict.fromkeys((host, "127.0.0.1", "localhost") if host in ("127.0.0.1", "localhost") else (host,))
    return [f"http://{h}:{port}{path}" for h in hosts for path in ("", "/mcp", "/echo")]


PROXY_CALLBACKS = ("http://127.0.0.1/callback", "http://localhost/callback")


def proxy_identity(ident: dict[str, str | int]) -> dict[str, str | int]:
    """The local API registration as the OAuth proxy's confidential client: a secret made once and kept in the
    state file, and given to the app as AZURE_CLIENT_SECRET (as a developer would with a real tenant)."""
    import secrets

    if not ident.get("client_secret"):
        ident["client_secret"] = secrets.token_urlsafe(32)
        STATE_FILE.write_text(json.dumps(ident, indent=2))
    if not os.environ.get("AZURE_CLIENT_SECRET"):
        os.environ["AZURE_CLIENT_SECRET"] = str(ident["client_secret"])
    return ident


def start_azurite() -> None:
    """Azurite's Table service for the OAuth proxy, stopped when devhost exits."""
    import atexit

    from devhost import azurite

    if reason := azurite.missing():
        raise SystemExit(f"devhost: OAUTH_PROXY=true needs table storage: {reason}, or set OAUTH_PROXY_STORAGE")
    served = azurite.start()
    atexit.register(served.stop)
    os.environ["OAUTH_PROXY_STORAGE"] = served.connection_string
    print(f"devhost: Azurite's Table service at http://127.0.0.1:{served.port} (in memory) for the OAuth proxy")


def start(args: argparse.Namespace) -> ASGIApp:
    """The settings and (with `--auth local`) the local authority set up, and the app's ASGI routes built."""
    from devhost.server import load_local_settings
    from shared.settings import load_settings

    load_local_settings(ROOT / "local.settings.json", os.environ)  # type: ignore[arg-type]
    mode = args.auth
    if mode == "auto":
        mode = auto_mode(os.environ)
    token = None
    oauth_proxy = os.environ.get("OAUTH_PROXY", "").strip().lower() in ("true", "1", "yes", "on")
    if oauth_proxy and not (os.environ.get("OAUTH_PROXY_STORAGE") or os.environ.get("OAUTH_PROXY_TABLE_ENDPOINT")):
        start_azurite()
    base = f"http://{args.host}:{args.port}"
    if mode == "local":
        from devhost import tls
        from devhost.authority import LocalAuthority, SigningKey
        from devhost.directory import local_directory

        ident = local_identity(args.port + 1)
        tenant, client = str(ident["tenant_id"]), str(ident["client_id"])
        if oauth_proxy:
            ident = proxy_identity(ident)
        try:
            directory = local_directory(
                tenant,
                client,
                # The MCP URLs are identifier URIs of the local API, so the RFC 8707 `resource` MCP clients
                # send is accepted (Entra checks it against the app's identifier URIs: AADSTS9010010).
                extra_identifier_uris=resource_uris(args.host, args.port),
                listed_clients=ident.get("clients") or (),
                api_client_secret=str(ident["client_secret"]) if ident.get("client_secret") else None,
                # The API registration's `requestedAccessTokenVersion`: 2 unless the settings say 1.
                token_version="1.0" if str(ident.get("token_version")) in ("1", "1.0") else "2.0",
                # The OAuth proxy's callback (OAUTH_PROXY=true), on any loopback port as Entra allows.
                api_redirect_uris=PROXY_CALLBACKS if oauth_proxy else (),
            )
        except ValueError as exc:
            raise SystemExit(f"devhost: {STATE_FILE}: {exc}") from None
        tls_files = tls.load_or_create(STATE_DIR)
        authority = LocalAuthority(
            SigningKey.load_or_create(KEY_FILE),
            host=args.host,
            port=int(ident["port"]),
            directory=directory,
            tls=tls_files,
            tls_port=int(ident["port"]) + 1,
        )
        authority.start()
        os.environ.update(
            AZURE_TENANT_ID=tenant,
            AZURE_CLIENT_ID=client,
            AZURE_AUTHORITY=authority.authority(tenant),
            ENABLE_AUTH="true",
        )
        os.environ.pop("TOKEN_ISSUER", None)
        os.environ.pop("TOKEN_AUDIENCE", None)
        token = authority.mint(tenant, client, minutes=24 * 60)
    elif mode == "off":
        os.environ["ENABLE_AUTH"] = "false"

    from devhost import telemetry

    traced = telemetry.configure(os.environ)
    app, lines = build(args.mode, base)
    for line in lines:
        print(line)
    if traced:
        print(traced)
    if mode == "local":
        print(f"\nAuthentication: ON, local authority at {os.environ['AZURE_AUTHORITY']} (client id {client})")
        print(f"Sign-in (MSAL, azure-identity): {authority.tls_url}/{tenant}, trusting {tls_files.ca}")
        print(f"MCP URL: {base}/mcp\nBearer token (24 h; more with `python -m devhost token`):\n{token}\n")
    elif mode == "off":
        refused = load_settings(os.environ).problems
        if refused:
            print("\nAuthentication cannot be turned off here; every call answers 503:\n  " + "\n  ".join(refused))
        else:
            print("\n!!! Authentication is OFF: every caller is the local developer. Never do this in Azure. !!!\n")
    else:
        print(f"\nAuthentication: ON, Entra tenant {os.environ.get('AZURE_TENANT_ID')}\nMCP URL: {base}/mcp\n")
    sys.stdout.flush()
    return app


def build(mode: str, base: str) -> tuple[ASGIApp, list[str]]:
    """The app served and the banner: through Azure's worker library where it runs, else devhost's adapter."""
    from devhost.server import build_app, route_prefix
    from devhost.worker import unavailable_reason

    why_not = unavailable_reason()
    if mode == "worker" and why_not:
        raise SystemExit(f"devhost: --mode worker: {why_not}")
    where = f"devhost: serving {ROOT / 'function_app.py'} at {base}"
    python = f"Python {sys.version.split()[0]}"
    if mode != "adapter" and why_not is None:
        from devhost.worker.host import WorkerError
        from devhost.worker.serve import banner_lines, build_worker_app, describe

        try:
            worker_app, routes = build_worker_app(ROOT, route_prefix(ROOT / "host.json"))
        except WorkerError as error:  # what the host would log before serving nothing
            raise SystemExit(f"devhost: {error}") from None
        return worker_app, [where, f"  through {describe()}, {python}", *banner_lines(base, routes)]
    import function_app

    app, table = build_app(function_app.app, ROOT / "host.json")
    reason = "--mode adapter" if mode == "adapter" else why_not
    lines = [where, f"  through devhost's own adapter, {python} ({reason})"]
    return app, lines + [f"  {','.join(fn.methods):<18} {base}{path}" for path, fn in table]


def serve(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from shared.collector import kept_from_collector

    # What start-up builds (azure.functions, werkzeug, uvicorn, the routes) lives as long as the
    # server: built without collections and frozen after, it is not walked by every full collection
    # under load either (one every few hundred requests).
    with kept_from_collector():
        import uvicorn

        app = start(args)
    from devhost.logs import log_config

    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=log_config(), lifespan="off")
    return 0


def mint(args: argparse.Namespace) -> int:
    from devhost.authority import SigningKey, mint_token

    if not KEY_FILE.exists() or not STATE_FILE.exists():
        print("devhost token: start `python -m devhost` once first; it creates the local authority", file=sys.stderr)
        return 2
    ident = local_identity()
    # Tokens name their issuer by URL: mint for the port devhost's authority listens on.
    token = mint_token(
        f"http://127.0.0.1:{ident['port']}",
        str(ident["tenant_id"]),
        str(ident["client_id"]),
        version="1.0" if args.v1 else "2.0",
        app=args.app,
        scopes=tuple(args.scope) if args.scope else (() if args.app else ("user_impersonation",)),
        roles=tuple(args.role) if args.role else (("MCP.Invoke",) if args.app else ()),
        minutes=args.minutes,
        key=SigningKey.load_or_create(KEY_FILE),
    )
    print(token)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--auth", choices=["auto", "local", "entra", "off"], default="auto")
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--mode",
        choices=["auto", "worker", "adapter"],
        default="auto",
        help="worker: through Azure's Python worker library (Python 3.13+); adapter: devhost's own; "
        "auto (default): the worker where it runs",
    )
    token = sub.add_parser("token", help="mint a token from the local authority")
    token.add_argument("--app", action="store_true", help="an app-only token (roles, no scopes)")
    token.add_argument("--scope", action="append", help="a delegated scope (repeatable)")
    token.add_argument("--role", action="append", help="an app role (repeatable)")
    token.add_argument("--minutes", type=float, default=60)
    token.add_argument("--v1", action="store_true", help="a v1.0 token (sts.windows.net issuer)")
    args = parser.parse_args(argv)
    return mint(args) if args.command == "token" else serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
