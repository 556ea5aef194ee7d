"""devhost's access log, with the credentials a URL can carry redacted.

The app refuses a token in the query string, but the access log line is written whatever the
answer: without this, `GET /mcp?access_token=...` would leave a working token in the terminal
(and in whatever collects it). Values are replaced, names kept, so the line still says what came.
"""

from __future__ import annotations

import copy
import logging
from typing import Any
from urllib.parse import unquote_plus

SECRET_PARAMETERS = frozenset({"access_token", "id_token", "code", "client_secret", "assertion", "refresh_token"})
REDACTED = "REDACTED"


def redact_url(target: str) -> str:
    """`target` (a path with its query) with the value of every credential parameter replaced."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    pieces = []
    for piece in query.split("&"):
        name, equals, _ = piece.partition("=")
        secret = unquote_plus(name).strip().lower() in SECRET_PARAMETERS
        pieces.append(f"{name}={REDACTED}" if secret and equals else piece)
    return f"{path}?{'&'.join(pieces)}"


class RedactCredentials(logging.Filter):
    """For uvicorn's access records: their arguments are (client, method, target, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_url(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with the access handler redacting."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_credentials"] = {"()": RedactCredentials}
    config["handlers"]["access"]["filters"] = ["redact_credentials"]
    return config
