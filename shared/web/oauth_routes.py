"""The OAuth facade's routes (OAUTH_PROXY=true): each a request checked for the facade and its answer.

Off (the default), every one answers 404 and the protected-resource metadata names Entra as before.
A misconfigured server answers 503; so does one whose store or Entra cannot be reached right now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import azure.functions as func

from shared.runtime import current
from shared.web import responses

log = logging.getLogger(__name__)


def _guarded(
    req: func.HttpRequest, answer: Callable[[], func.HttpResponse], *, cors: bool = False
) -> func.HttpResponse:
    response = _checked(req, answer, cors)
    if cors:  # on refusals too, or a page could not read why
        response.headers.update(responses.CORS)
    return response


def _checked(req: func.HttpRequest, answer: Callable[[], func.HttpResponse], cors: bool) -> func.HttpResponse:
    from shared.facade.errors import OAuthError, error_json
    from shared.facade.store import StoreUnavailable
    from shared.facade.upstream import unavailable_reason

    settings = current().settings
    if not settings.oauth_proxy:
        return responses.error_response(404, "not_found", "The OAuth proxy is off (OAUTH_PROXY).")
    if settings.problems:
        return responses.misconfigured(settings.problems)
    if reason := unavailable_reason(settings):
        return responses.error_response(503, "server_misconfigured", reason, {"Retry-After": "300"})
    if cors and req.method == "OPTIONS":
        return func.HttpResponse(status_code=204)
    try:
        return answer()
    except StoreUnavailable as exc:
        log.warning("The OAuth proxy's store is unavailable: %s", exc)
        return error_json(OAuthError("temporarily_unavailable", "Sign-in storage is unavailable; retry.", 503))
    except OAuthError as refused:
        return error_json(refused)


def authorization_server(req: func.HttpRequest) -> func.HttpResponse:
    from shared.facade.core import issuer
    from shared.facade.metadata import authorization_server_metadata

    def answer() -> func.HttpResponse:
        document = authorization_server_metadata(current().facade, issuer(req))
        return responses.json_response(document, cache="public, max-age=3600")

    return _guarded(req, answer, cors=True)


def register(req: func.HttpRequest) -> func.HttpResponse:
    from shared.facade.errors import json_answer
    from shared.facade.registration import register as registered

    def answer() -> func.HttpResponse:
        facade = current().facade
        body = registered(facade.store, req.get_body(), facade.settings.proxy_registrations_per_minute)
        return json_answer(body, 201)

    return _guarded(req, answer, cors=True)


def authorize(req: func.HttpRequest) -> func.HttpResponse:
    from shared.facade.authorize import authorize as authorized

    return _guarded(req, lambda: authorized(current().facade, req))


def consent(req: func.HttpRequest) -> func.HttpResponse:
    from shared.facade.authorize import decide

    return _guarded(req, lambda: decide(current().facade, req))


def callback(req: func.HttpRequest) -> func.HttpResponse:
    from shared.facade.callback import callback as answered

    return _guarded(req, lambda: answered(current().facade, req))


def token(req: func.HttpRequest) -> func.HttpResponse:
    from shared.facade.core import form
    from shared.facade.errors import json_answer
    from shared.facade.token import token as issued

    return _guarded(req, lambda: json_answer(issued(current().facade, form(req))), cors=True)


def purge() -> int:
    """The timer's work: expired rows deleted. Nothing to do while the proxy is off or misconfigured."""
    settings = current().settings
    if not settings.oauth_proxy or settings.problems:
        return 0
    gone = current().facade.store.purge()
    log.info("OAuth proxy: purged %d expired rows", gone)
    return gone
