"""What the Functions host does with its Python worker, in-process: start it, let it index the app, load, invoke.

In Azure the .NET host talks to the worker process over gRPC, and the worker's proxy hands each message
to `azure_functions_runtime` (`handle_event`): WorkerInitRequest (the worker imports function_app.py
and indexes it), FunctionsMetadataRequest (the functions it found, with their bindings as JSON),
FunctionLoadRequest per function, then an InvocationRequest per trigger. devhost sends the same
messages, as objects of devhost/worker/protocol.py, straight to those coroutines: everything the
worker does with them (indexing, converting requests and responses, running sync functions on its
thread pool and async ones on the loop) is its own code, the version pinned in requirements.txt.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.worker import protocol

HOST_VERSION = "4.1040.0"  # told to the worker as the host's version; only logged by it


def library_version() -> str:
    """The worker library's own version constant (importlib.metadata would cost a cold start ~15 ms)."""
    from azure_functions_runtime.version import VERSION

    return str(VERSION)


class WorkerError(RuntimeError):
    """The worker answered a host request with a failure: what it said, with its stack trace."""


@dataclass
class Event:
    """What the proxy worker hands `azure_functions_runtime`: the host's message and, at init, properties."""

    request: protocol.StreamingMessage
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedFunction:
    metadata: protocol.RpcFunctionMetadata
    bindings: tuple[dict[str, Any], ...]  # raw_bindings, parsed


class WorkerHost:
    """One worker, driven the way the host drives it. `start()` once, then `invoke()` per trigger."""

    def __init__(self, app_dir: Path) -> None:
        self.app_dir = app_dir
        self.capabilities: dict[str, str] = {}
        self.functions: list[LoadedFunction] = []
        import azure_functions_runtime

        self._runtime = azure_functions_runtime

    async def start(self) -> list[LoadedFunction]:
        import json

        runtime = self._runtime
        # The proxy worker starts the thread pool sync functions run on before it forwards anything.
        runtime.start_threadpool_executor()
        init = protocol.WorkerInitRequest(
            host_version=HOST_VERSION,
            capabilities={},
            worker_directory=str(Path(runtime.__file__).parent),
            function_app_directory=str(self.app_dir),
        )
        answer = await runtime.worker_init_request(
            Event(protocol.StreamingMessage(worker_init_request=init), {"protos": protocol, "host": "127.0.0.1"})
        )
        self._check(answer.result, "WorkerInitRequest")
        self.capabilities = dict(answer.capabilities)
        listing = await runtime.functions_metadata_request(
            Event(
                protocol.StreamingMessage(
                    functions_metadata_request=protocol.FunctionsMetadataRequest(
                        function_app_directory=str(self.app_dir)
                    )
                )
            )
        )
        self._check(listing.result, "FunctionsMetadataRequest")
        if not listing.function_metadata_results:
            raise WorkerError(f"the worker found no functions in {self.app_dir / 'function_app.py'}")
        for metadata in listing.function_metadata_results:
            load = protocol.FunctionLoadRequest(function_id=metadata.function_id, metadata=metadata)
            loaded = await runtime.function_load_request(Event(protocol.StreamingMessage(function_load_request=load)))
            self._check(loaded.result, f"FunctionLoadRequest({metadata.name})")
            bindings = tuple(json.loads(raw) for raw in metadata.raw_bindings)
            self.functions.append(LoadedFunction(metadata, bindings))
        return self.functions

    async def invoke(
        self, function_id: str, inputs: list[protocol.ParameterBinding], trace_parent: str = ""
    ) -> protocol.InvocationResponse:
        random = os.urandom(40)  # one call for the invocation's GUID and the trace ids
        request = protocol.InvocationRequest(
            invocation_id=str(uuid.UUID(bytes=random[:16], version=4)),
            function_id=function_id,
            input_data=inputs,
            trace_context=protocol.RpcTraceContext(trace_parent=trace_parent or new_trace_parent(random[16:])),
        )
        answer: protocol.InvocationResponse = await self._runtime.invocation_request(
            Event(protocol.StreamingMessage(invocation_request=request))
        )
        return answer

    def stop(self) -> None:
        self._runtime.stop_threadpool_executor()

    @staticmethod
    def _check(result: protocol.StatusResult, what: str) -> None:
        if result.status != protocol.StatusResult.Success:
            error = result.exception
            raise WorkerError(f"the worker failed {what}: {error.message}\n{error.stack_trace}")


def new_trace_parent(random: bytes) -> str:
    """A W3C traceparent (from 24 random bytes), as the host's Activity for a request without one gives the worker."""
    return f"00-{random[:16].hex()}-{random[16:24].hex()}-00"
