"""Access tokens from Microsoft Entra ID through azure-identity, one credential class per `--auth` flow.

| --auth           | credential                    | OAuth flow                         | default scope suffix |
| client-secret    | ClientSecretCredential        | client credentials (app-only)      | /.default            |
| interactive      | InteractiveBrowserCredential  | authorization code + PKCE (user)   | /user_impersonation  |
| device-code      | DeviceCodeCredential          | device authorization grant (user)  | /user_impersonation  |
| azure-cli        | AzureCliCredential            | `az account get-access-token`      | /.default            |
| managed-identity | ManagedIdentityCredential     | the Azure host's identity endpoint | /.default            |
| default          | DefaultAzureCredential        | the first of its chain that works  | /.default            |

App-only flows must ask for `<API>/.default` (Entra refuses anything else for client credentials
and managed identities); the app roles come from the assignment, not the request.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from client.config import AuthOptions
from client.errors import EXIT_AUTH, EXIT_USAGE, Failure, first_line

DELEGATED_SCOPE = "user_impersonation"
USER_FLOWS = frozenset({"interactive", "device-code"})
APP_ONLY_FLOWS = frozenset({"client-secret", "managed-identity"})


def scope_for(auth: AuthOptions, discover: Callable[[], list[str]]) -> str:
    """The scope to request: --scope/AZURE_SCOPE, else derived from the API's id, else discovered.

    Discovery reads the server's protected-resource metadata (`scopes_supported`), which names the
    API by its real Application ID URI; the deployed API's is `api://<tenant>/<name>`, not `api://<id>`.
    """
    if auth.scope:
        # Entra issues client-credentials and managed-identity tokens for `<resource>/.default` only.
        return _with_suffix(auth.scope, auth.flow) if auth.flow in APP_ONLY_FLOWS else auth.scope
    if auth.api_client_id:
        return _with_suffix(f"api://{auth.api_client_id}/{DELEGATED_SCOPE}", auth.flow)
    scopes = discover()
    if not scopes:
        raise Failure(
            "cannot tell which scope to request: the server publishes none; pass --scope or --api-client-id",
            EXIT_USAGE,
        )
    return _with_suffix(scopes[0], auth.flow)


def _with_suffix(scope: str, flow: str | None) -> str:
    """A delegated scope for user flows, the resource's `.default` for the others."""
    if flow in USER_FLOWS:
        return scope
    path = scope.split("://", 1)[-1]  # a scope is `<resource>/<name>`; a bare resource has no `/` past its scheme
    resource = scope.rsplit("/", 1)[0] if "/" in path else scope
    return f"{resource}/.default"


def _prompt_on_stderr(verification_uri: str, user_code: str, expires_on: datetime) -> None:
    # azure-identity prints the device-code prompt to stdout by default, where it would corrupt the JSON output.
    print(f"To sign in, open {verification_uri} and enter the code {user_code}.", file=sys.stderr, flush=True)


def build_credential(auth: AuthOptions) -> Any:
    """The azure-identity credential for `auth.flow`, built without any network call."""
    import azure.identity as identity

    flow, tenant, client_id = auth.flow, auth.tenant_id, auth.client_id
    optional: dict[str, str] = {}
    if tenant:
        optional["tenant_id"] = tenant
    if flow == "client-secret":
        missing = [
            name
            for name, value in (
                ("--tenant/AZURE_TENANT_ID", tenant),
                ("--client-id/AZURE_CLIENT_ID", client_id),
                ("--client-secret/AZURE_CLIENT_SECRET", auth.client_secret),
            )
            if not value
        ]
        if missing:
            raise Failure(f"--auth client-secret needs {', '.join(missing)}", EXIT_USAGE)
        return identity.ClientSecretCredential(
            str(tenant), str(client_id), str(auth.client_secret), **_authority(auth.authority_host)
        )
    if flow == "interactive":
        # Without a client id azure-identity signs in as the Azure CLI's public client (04b07795-...).
        return identity.InteractiveBrowserCredential(
            **optional, **_client(client_id), **_authority(auth.authority_host)
        )
    if flow == "device-code":
        return identity.DeviceCodeCredential(
            **optional, **_client(client_id), **_authority(auth.authority_host), prompt_callback=_prompt_on_stderr
        )
    if flow == "azure-cli":
        return identity.AzureCliCredential(**optional)
    if flow == "managed-identity":
        # No client id: the system-assigned identity.
        return identity.ManagedIdentityCredential(**_client(client_id))
    if flow == "default":
        # Passed even when None: left out, DefaultAzureCredential would take AZURE_CLIENT_ID as the
        # managed identity's id, and here AZURE_CLIENT_ID names the API.
        return identity.DefaultAzureCredential(managed_identity_client_id=client_id)
    raise Failure(f"unknown --auth {flow!r}", EXIT_USAGE)


def _client(client_id: str | None) -> dict[str, str]:
    return {"client_id": client_id} if client_id else {}


def _authority(host: str | None) -> dict[str, Any]:
    """AZURE_AUTHORITY_HOST; on loopback (devhost's authority) without instance discovery, which would ask
    login.microsoftonline.com whether it knows the host."""
    if not host:
        return {}
    loopback = urlsplit(host).hostname in ("localhost", "127.0.0.1", "::1")
    return {"authority": host, **({"disable_instance_discovery": True} if loopback else {})}


def acquire_token(auth: AuthOptions, discover: Callable[[], list[str]]) -> str | None:
    """The bearer token to send: the raw one, none, or one fresh from Entra for the resolved scope."""
    if auth.flow is None:
        return auth.token
    scope = scope_for(auth, discover)
    try:
        credential = build_credential(auth)
    except ValueError as exc:  # azure-identity checks the shape of tenant and client ids
        raise Failure(f"--auth {auth.flow}: {first_line(exc)}", EXIT_USAGE) from None
    from azure.core.exceptions import ClientAuthenticationError

    try:
        return str(credential.get_token(scope).token)
    except ClientAuthenticationError as exc:  # CredentialUnavailableError is one too
        reason = first_line(exc)
        raise Failure(f"could not get a token with --auth {auth.flow} for {scope}: {reason}", EXIT_AUTH) from None
    except ValueError as exc:  # azure-identity's refusal of a malformed scope or tenant
        raise Failure(f"--auth {auth.flow} cannot request {scope}: {first_line(exc)}", EXIT_USAGE) from None
    finally:
        close = getattr(credential, "close", None)
        if callable(close):
            close()
