"""The routes of the app: each function hands its request to `shared.web.handlers`.

Everything here is anonymous at the platform level on purpose: the app validates Entra ID
tokens itself (see `shared/auth/tokens.py`), so it runs and is tested the same way locally and in Azure.
"""

import azure.functions as func

from shared.web import handlers, oauth_routes

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="health", methods=["GET"])
def health(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.health(req)


@app.route(route="mcp", methods=["POST", "GET", "DELETE"])
async def mcp(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.mcp(req)


@app.route(route="echo", methods=["POST", "GET", "DELETE"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.mcp(req)


@app.route(route="me", methods=["GET"])
async def me(req: func.HttpRequest) -> func.HttpResponse:
    return await handlers.me(req)


@app.route(route=".well-known/oauth-protected-resource/{resource?}", methods=["GET", "OPTIONS"])
def protected_resource_metadata(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.protected_resource(req)


@app.route(route="openapi.json", methods=["GET"])
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.openapi(req)


@app.route(route="docs/{name?}", methods=["GET"])
def docs(req: func.HttpRequest) -> func.HttpResponse:
    return handlers.docs(req)


# The OAuth authorization facade over Entra (OAUTH_PROXY=true; 404 while off). See shared/facade.
@app.route(route=".well-known/oauth-authorization-server", methods=["GET", "OPTIONS"])
def authorization_server_metadata(req: func.HttpRequest) -> func.HttpResponse:
    return oauth_routes.authorization_server(req)


@app.route(route="register", methods=["POST", "OPTIONS"])
def register(req: func.HttpRequest) -> func.HttpResponse:
    return oauth_routes.register(req)


@app.route(route="authorize", methods=["GET"])
def authorize(req: func.HttpRequest) -> func.HttpResponse:
    return oauth_routes.authorize(req)


@app.route(route="consent", methods=["POST"])
def consent(req: func.HttpRequest) -> func.HttpResponse:
    return oauth_routes.consent(req)


@app.route(route="callback", methods=["GET"])
def callback(req: func.HttpRequest) -> func.HttpResponse:
    return oauth_routes.callback(req)


@app.route(route="token", methods=["POST", "OPTIONS"])
def token(req: func.HttpRequest) -> func.HttpResponse:
    return oauth_routes.token(req)


@app.timer_trigger(schedule="0 */15 * * * *", arg_name="timer", run_on_startup=False)
def purge_oauth_state(timer: func.TimerRequest) -> None:
    oauth_routes.purge()
