"""A small app for tests/test_worker.py: what the worker makes visible that a hand-made adapter does not.

Served by devhost from this folder (its own host.json keeps the default route prefix, `api`).
"""

import asyncio
import contextvars
import json
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
REQUEST_TAG: contextvars.ContextVar[str] = contextvars.ContextVar("request_tag", default="unset")


def where(context: func.Context | None) -> dict[str, object]:
    try:
        asyncio.get_running_loop()
        on_loop = True
    except RuntimeError:
        on_loop = False
    try:
        from azure_functions_runtime import invocation_id_cv

        worker_invocation = invocation_id_cv.get()
    except ImportError:
        worker_invocation = None
    return {
        "thread": threading.current_thread().name,
        "main_thread": threading.current_thread() is threading.main_thread(),
        "on_loop": on_loop,
        "invocation_id": None if context is None else context.invocation_id,
        "worker_invocation_id": worker_invocation,
        "tag": REQUEST_TAG.get(),
    }


@app.route(route="sync", methods=["GET"])
def sync_function(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(where(context)), mimetype="application/json")


@app.route(route="async", methods=["GET"])
async def async_function(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    # Each invocation sets its own tag, yields to the others, and must read its own back.
    REQUEST_TAG.set(req.params.get("tag", "none"))
    await asyncio.sleep(float(req.params.get("sleep", "0")))
    return func.HttpResponse(json.dumps(where(context)), mimetype="application/json")


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


@app.route(route="text", methods=["GET"])
def text(req: func.HttpRequest) -> str:
    return req.params.get("value", "plain")


def seen(req: func.HttpRequest) -> func.HttpResponse:
    described = {
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers),
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": req.get_body().decode("latin-1"),
    }
    return func.HttpResponse(json.dumps(described), mimetype="application/json")


@app.route(route="echo/{id:int}/{*rest}", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return seen(req)


@app.route(route="seen", methods=["POST"])
def plain_echo(req: func.HttpRequest) -> func.HttpResponse:
    return seen(req)


@app.route(route="echo/{name}", methods=["GET"])
def echo_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"name {req.route_params['name']}")


@app.route(route="echo/literal", methods=["GET"])
def echo_literal(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("literal")


@app.function_name("renamed")
@app.route(methods=["GET"])
def cookie(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("with cookies")
    response.headers.add("Set-Cookie", "a=1; Path=/; HttpOnly")
    response.headers.add("Set-Cookie", "b=2; Secure; SameSite=Strict")
    return response
