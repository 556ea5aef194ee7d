"""The host protocol's messages that Azure's Python worker library exchanges with its host, as plain classes.

`azure_functions_runtime` takes the module of message classes from its caller (`properties["protos"]`)
and builds its answers with it. No installable package ships today's messages (the last
`azure-functions-worker` wheel with compiled ones predates function indexing), so these are ours,
written from the protocol's published message and field names (FunctionRpc.proto of
Azure/azure-functions-language-worker-protobuf). Only what the worker and devhost touch is here.

Nothing crosses a wire, so field numbers do not matter; what must match is what the worker's code
relies on: names, protobuf's defaults for unset fields (an unset message reads as an empty one),
oneof groups with `WhichOneof`, enum values as ints, and types as strict as protobuf's (bytes are
not str), so that a conversion mistake fails here as it would against the real classes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

# Field kinds: a Python type for scalars, a class name for messages, ("list", kind) and ("map", kind).
Kind = Any
_SCALARS: dict[Kind, Any] = {str: "", bytes: b"", int: 0, float: 0.0, bool: False, dt.timedelta: dt.timedelta()}


class Message:
    """A protocol message: keyword construction, protobuf defaults, oneofs, strict types."""

    FIELDS: ClassVar[dict[str, Kind]] = {}
    ONEOFS: ClassVar[dict[str, tuple[str, ...]]] = {}
    _GROUP: ClassVar[dict[str, str]] = {}
    _KINDS: ClassVar[dict[str, Kind] | None] = None  # FIELDS with message names resolved, on first use

    def __init_subclass__(cls) -> None:
        cls._GROUP = {member: group for group, members in cls.ONEOFS.items() for member in members}
        cls._KINDS = None

    def __init__(self, **values: Any) -> None:
        # Built for every invocation, in and out: the common case (right type, no oneof) is kept short.
        kinds = type(self)._KINDS or type(self)._resolve()
        store = self.__dict__
        for name, value in values.items():
            if value is None:  # protobuf reads None as "leave unset"
                continue
            kind = kinds.get(name)
            if kind is None:
                raise AttributeError(f"{type(self).__name__} has no field {name!r}")
            if store and name in self._GROUP:  # a new message has no member to clear
                for sibling in self.ONEOFS[self._GROUP[name]]:
                    store.pop(sibling, None)
            store[name] = value if type(value) is kind else _checked(kind, value, f"{type(self).__name__}.{name}")

    @classmethod
    def _resolve(cls) -> dict[str, Kind]:
        cls._KINDS = {name: _resolved(kind) for name, kind in cls.FIELDS.items()}
        return cls._KINDS

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_empty"):
            raise AttributeError(f"an unset {type(self).__name__} is read-only here: set the field that holds it")
        self.__init__(**{name: value})  # type: ignore[misc] - the same checks, for one field

    def __getattr__(self, name: str) -> Any:
        # Only called for unset fields: protobuf's default, kept when it is a container or a message
        # so that `msg.headers["a"] = "b"` or `msg.trace_context.attributes` behave as protobuf's do.
        kind = (type(self)._KINDS or type(self)._resolve()).get(name)
        if kind is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        if kind in _SCALARS:
            return _SCALARS[kind]
        if isinstance(kind, tuple):
            value: Any = [] if kind[0] == "list" else {}
            if not self.__dict__.get("_empty"):
                self.__dict__[name] = value
            return value
        return kind.empty()

    @classmethod
    def empty(cls) -> Any:
        """What an unset field of this type reads as: one shared, read-only, empty message per type.

        The worker reads fields the host leaves unset on every invocation (`retry_context.exception`, ...);
        sharing the empty message spares building one each time.
        """
        empty = cls.__dict__.get("_EMPTY")
        if empty is None:
            empty = cls()
            empty.__dict__["_empty"] = True
            cls._EMPTY = empty
        return empty

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802 - protobuf's name
        return next((name for name in self.ONEOFS[group] if name in self.__dict__), None)

    def HasField(self, name: str) -> bool:  # noqa: N802 - protobuf's name
        return name in self.__dict__

    def __eq__(self, other: object) -> bool:
        fields = type(self).FIELDS
        if type(other) is not type(self):
            return False
        mine = {k: v for k, v in self.__dict__.items() if k in fields}
        return mine == {k: v for k, v in other.__dict__.items() if k in fields}

    __hash__ = None  # type: ignore[assignment] - mutable, as protobuf's messages

    def __repr__(self) -> str:
        shown = (f"{k}={v!r}" for k, v in self.__dict__.items() if k in type(self).FIELDS)
        return f"{type(self).__name__}({', '.join(shown)})"


def _resolved(kind: Kind) -> Kind:
    if isinstance(kind, tuple):
        return (kind[0], _resolved(kind[1]))
    if isinstance(kind, str):
        cls = globals()[kind]
        assert isinstance(cls, type) and issubclass(cls, Message)
        return cls
    return kind


def _checked(kind: Kind, value: Any, where: str) -> Any:
    if isinstance(kind, tuple):
        container, item = kind
        if container == "list":
            return [v if type(v) is item else _checked(item, v, where) for v in value]
        mapping = dict(value)
        if all(type(k) is str and type(v) is item for k, v in mapping.items()):
            return mapping
        return {_checked(str, k, where): _checked(item, v, where) for k, v in mapping.items()}
    if kind is float and type(value) is int:
        return float(value)
    if kind is bytes and type(value) is bytearray:
        return bytes(value)
    if kind is int and type(value) is bool:
        return int(value)
    if type(value) is not kind:
        raise TypeError(f"{where}: a {kind.__name__} is needed, not {type(value).__name__}")
    return value


# Wrappers of optional scalars (NullableTypes.proto).
class NullableString(Message):
    FIELDS: ClassVar = {"value": str}
    ONEOFS: ClassVar = {"string": ("value",)}


class NullableDouble(Message):
    FIELDS: ClassVar = {"value": float}
    ONEOFS: ClassVar = {"double": ("value",)}


class NullableBool(Message):
    FIELDS: ClassVar = {"value": bool}
    ONEOFS: ClassVar = {"bool": ("value",)}


class Timestamp(Message):
    # google.protobuf.Timestamp, which the worker looks for on the module before importing protobuf's.
    FIELDS: ClassVar = {"seconds": int, "nanos": int}


class NullableTimestamp(Message):
    FIELDS: ClassVar = {"value": "Timestamp"}
    ONEOFS: ClassVar = {"timestamp": ("value",)}


class RpcException(Message):
    FIELDS: ClassVar = {"source": str, "stack_trace": str, "message": str, "is_user_exception": bool, "type": str}


class StatusResult(Message):
    Failure, Success, Cancelled = 0, 1, 2
    FIELDS: ClassVar = {"status": int, "result": str, "exception": "RpcException"}


class RpcClaim(Message):
    FIELDS: ClassVar = {"value": str, "type": str}


class RpcClaimsIdentity(Message):
    FIELDS: ClassVar = {
        "authentication_type": "NullableString",
        "name_claim_type": "NullableString",
        "role_claim_type": "NullableString",
        "claims": ("list", "RpcClaim"),
    }


class RpcHttpCookie(Message):
    class SameSite:
        # `None` is a keyword: the worker reads it with getattr(..., "None").
        Lax, Strict, ExplicitNone = 1, 2, 3

    FIELDS: ClassVar = {
        "name": str,
        "value": str,
        "domain": "NullableString",
        "path": "NullableString",
        "expires": "NullableTimestamp",
        "secure": "NullableBool",
        "http_only": "NullableBool",
        "same_site": int,
        "max_age": "NullableDouble",
    }


setattr(RpcHttpCookie.SameSite, "None", 0)  # a keyword: not writable as an attribute


class RpcHttp(Message):
    FIELDS: ClassVar = {
        "method": str,
        "url": str,
        "headers": ("map", str),
        "body": "TypedData",
        "params": ("map", str),
        "status_code": str,
        "query": ("map", str),
        "enable_content_negotiation": bool,
        "rawBody": "TypedData",
        "identities": ("list", "RpcClaimsIdentity"),
        "cookies": ("list", "RpcHttpCookie"),
        "nullable_headers": ("map", "NullableString"),
        "nullable_params": ("map", "NullableString"),
        "nullable_query": ("map", "NullableString"),
    }


class CollectionString(Message):
    FIELDS: ClassVar = {"string": ("list", str)}


class CollectionBytes(Message):
    FIELDS: ClassVar = {"bytes": ("list", bytes)}


class CollectionDouble(Message):
    FIELDS: ClassVar = {"double": ("list", float)}


class CollectionSInt64(Message):
    FIELDS: ClassVar = {"sint64": ("list", int)}


class TypedData(Message):
    FIELDS: ClassVar = {
        "string": str,
        "json": str,
        "bytes": bytes,
        "stream": bytes,
        "http": "RpcHttp",
        "int": int,
        "double": float,
        "collection_bytes": "CollectionBytes",
        "collection_string": "CollectionString",
        "collection_double": "CollectionDouble",
        "collection_sint64": "CollectionSInt64",
    }
    ONEOFS: ClassVar = {"data": tuple(FIELDS)}


class RpcSharedMemory(Message):
    FIELDS: ClassVar = {"name": str, "offset": int, "count": int, "type": int}


class ParameterBinding(Message):
    FIELDS: ClassVar = {"name": str, "data": "TypedData", "rpc_shared_memory": "RpcSharedMemory"}
    ONEOFS: ClassVar = {"rpc_data": ("data", "rpc_shared_memory")}


class BindingInfo(Message):
    # Enum values as the protocol numbers them (Direction, DataType).
    in_, out, inout = 0, 1, 2
    undefined, string, binary, stream = 0, 1, 2, 3
    FIELDS: ClassVar = {"type": str, "direction": int, "data_type": int, "properties": ("map", str)}


setattr(BindingInfo, "in", 0)  # `in` is a keyword


class RpcRetryOptions(Message):
    exponential_backoff, fixed_delay = 0, 1
    FIELDS: ClassVar = {
        "max_retry_count": int,
        "delay_interval": dt.timedelta,
        "minimum_interval": dt.timedelta,
        "maximum_interval": dt.timedelta,
        "retry_strategy": str,
    }


class RpcFunctionMetadata(Message):
    FIELDS: ClassVar = {
        "name": str,
        "directory": str,
        "script_file": str,
        "entry_point": str,
        "bindings": ("map", "BindingInfo"),
        "is_proxy": bool,
        "status": "StatusResult",
        "language": str,
        "raw_bindings": ("list", str),
        "function_id": str,
        "managed_dependency_enabled": bool,
        "retry_options": "RpcRetryOptions",
        "properties": ("map", str),
    }


class WorkerMetadata(Message):
    FIELDS: ClassVar = {
        "runtime_name": str,
        "runtime_version": str,
        "worker_version": str,
        "worker_bitness": str,
        "custom_properties": ("map", str),
    }


class WorkerInitRequest(Message):
    FIELDS: ClassVar = {
        "host_version": str,
        "capabilities": ("map", str),
        "log_categories": ("map", int),
        "worker_directory": str,
        "function_app_directory": str,
    }


class WorkerInitResponse(Message):
    FIELDS: ClassVar = {
        "worker_version": str,
        "capabilities": ("map", str),
        "result": "StatusResult",
        "worker_metadata": "WorkerMetadata",
    }


class FunctionsMetadataRequest(Message):
    FIELDS: ClassVar = {"function_app_directory": str}


class FunctionMetadataResponse(Message):
    FIELDS: ClassVar = {
        "function_metadata_results": ("list", "RpcFunctionMetadata"),
        "result": "StatusResult",
        "use_default_metadata_indexing": bool,
    }


class FunctionLoadRequest(Message):
    FIELDS: ClassVar = {"function_id": str, "metadata": "RpcFunctionMetadata", "managed_dependency_enabled": bool}


class FunctionLoadResponse(Message):
    FIELDS: ClassVar = {"function_id": str, "result": "StatusResult", "is_dependency_downloaded": bool}


class RpcTraceContext(Message):
    FIELDS: ClassVar = {"trace_parent": str, "trace_state": str, "attributes": ("map", str)}


class RetryContext(Message):
    FIELDS: ClassVar = {"retry_count": int, "max_retry_count": int, "exception": "RpcException"}


class InvocationRequest(Message):
    FIELDS: ClassVar = {
        "invocation_id": str,
        "function_id": str,
        "input_data": ("list", "ParameterBinding"),
        "trigger_metadata": ("map", "TypedData"),
        "trace_context": "RpcTraceContext",
        "retry_context": "RetryContext",
    }


class InvocationResponse(Message):
    FIELDS: ClassVar = {
        "invocation_id": str,
        "output_data": ("list", "ParameterBinding"),
        "return_value": "TypedData",
        "result": "StatusResult",
    }


class FunctionEnvironmentReloadResponse(Message):
    FIELDS: ClassVar = {"capabilities": ("map", str), "worker_metadata": "WorkerMetadata", "result": "StatusResult"}


class StreamingMessage(Message):
    FIELDS: ClassVar = {
        "request_id": str,
        "worker_init_request": "WorkerInitRequest",
        "functions_metadata_request": "FunctionsMetadataRequest",
        "function_load_request": "FunctionLoadRequest",
        "invocation_request": "InvocationRequest",
    }
    ONEOFS: ClassVar = {"content": tuple(name for name in FIELDS if name != "request_id")}
