"""Errors the local authority answers with, in Entra's shape.

Entra's token endpoint answers `{"error", "error_description", "error_codes", "timestamp", "trace_id",
"correlation_id", "error_uri"}`, the description starting `AADSTS<code>: ` and ending with the trace and
correlation ids. Clients match on `error` (RFC 6749); people read the AADSTS code. The codes used here
are Entra's for the same refusal; the wording says what this authority checked.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class OAuthError(Exception):
    error: str
    code: int
    description: str
    status: int = 400
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.error}: AADSTS{self.code}")

    def body(self) -> dict[str, Any]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.description} Trace ID: {trace} Correlation ID: {correlation} "
                f"Timestamp: {stamp}"
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
            **self.extra,
        }

    def redirect_params(self) -> dict[str, str]:
        """What goes back to the client's redirect URI (RFC 6749 section 4.1.2.1)."""
        return {"error": self.error, "error_description": f"AADSTS{self.code}: {self.description}"}


def missing(name: str) -> OAuthError:
    return OAuthError("invalid_request", 900144, f"The request body must contain the following parameter: '{name}'.")


def malformed(reason: str) -> OAuthError:
    return OAuthError("invalid_request", 9002313, f"Invalid request. Request is malformed or invalid: {reason}")


def duplicated(name: str) -> OAuthError:
    return OAuthError(
        "invalid_request", 9000411, f"The request is not properly formatted. The parameter '{name}' is duplicated."
    )


def unknown_client(client_id: str, tenant: str) -> OAuthError:
    return OAuthError(
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if "
        "the application has not been installed by the administrator of the tenant or consented to by any user in "
        "the tenant. You may have sent your authentication request to the wrong tenant.",
    )


def redirect_mismatch(redirect_uri: str, client_id: str) -> OAuthError:
    return OAuthError(
        "invalid_request",
        50011,
        f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured "
        f"for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to "
        "your application.",
    )


def resource_mismatch() -> OAuthError:
    return OAuthError(
        "invalid_request",
        9010010,
        "The resource parameter provided in the request doesn't match with the requested scopes.",
    )


def invalid_client(code: int, description: str) -> OAuthError:
    return OAuthError("invalid_client", code, description, status=401)
