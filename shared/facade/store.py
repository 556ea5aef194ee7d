"""The facade's state in Azure Table Storage: one table, a partition per kind of row, every row expiring.

In Azure the table is reached with the managed identity (OAUTH_PROXY_TABLE_ENDPOINT, role Storage
Table Data Contributor); locally and in tests with a connection string to Azurite (OAUTH_PROXY_STORAGE).
There is no in-memory stand-in: the code that runs in Azure is the code the tests run.

Single use (codes, states, refresh grants) is an update conditioned on the row's ETag that marks it
spent: of two concurrent takers one wins, the other finds the row spent or changed, and loses. A taker
may leave a tombstone in the row's place (codes and refresh grants leave their grant family's id, so a
replay can revoke what was issued from them); a tombstone holds nothing secret and expires with the row.
Expired rows are refused when read and deleted by the timer (`purge`).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.settings import Settings

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

CLIENTS, TRANSACTIONS, STATES, CODES, GRANTS, CONSENTS, RATES, KEYS, REVOKED = (
    "client",
    "txn",
    "state",
    "code",
    "grant",
    "consent",
    "rate",
    "key",
    "revoked",
)


class StoreUnavailable(Exception):
    """Table Storage cannot be reached or refused us: the request answers 503."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._table: TableClient | None = None
        self._lock = threading.Lock()

    def table(self) -> TableClient:
        if self._table is None:
            with self._lock:
                if self._table is None:
                    self._table = self._connect()
        return self._table

    def _connect(self) -> TableClient:
        from azure.core.exceptions import ResourceExistsError
        from azure.data.tables import TableServiceClient

        settings = self.settings
        timeouts = {"connection_timeout": 5, "read_timeout": 10, "retry_total": 2}
        if settings.proxy_table_endpoint:
            from azure.identity import ManagedIdentityCredential

            credential = ManagedIdentityCredential(client_id=settings.managed_identity_client_id or None)
            service = TableServiceClient(endpoint=settings.proxy_table_endpoint, credential=credential, **timeouts)
        else:
            service = TableServiceClient.from_connection_string(settings.proxy_storage, **timeouts)
        try:
            service.create_table(settings.proxy_table)
        except ResourceExistsError:
            pass
        except Exception as exc:
            raise StoreUnavailable(f"cannot open table {settings.proxy_table}: {type(exc).__name__}") from exc
        return service.get_table_client(settings.proxy_table)

    # Rows

    def put(self, kind: str, key: str, data: dict[str, Any], ttl: float, *, create: bool = False) -> None:
        """Write a row; with `create`, fail (False-y: raises KeyError) if it exists."""
        from azure.core.exceptions import ResourceExistsError
        from azure.data.tables import UpdateMode

        entity = {
            "PartitionKey": kind,
            "RowKey": key,
            "Data": json.dumps(data),
            "ExpiresAt": _now() + datetime.timedelta(seconds=ttl),
            "Spent": False,
        }
        try:
            if create:
                self.table().create_entity(entity)
            else:
                self.table().upsert_entity(entity, mode=UpdateMode.REPLACE)
        except ResourceExistsError as exc:
            raise KeyError(key) from exc
        except Exception as exc:
            raise StoreUnavailable(f"cannot write a {kind} row: {type(exc).__name__}") from exc

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        entity = self._entity(kind, key)
        if entity is None or entity.get("Spent"):
            return None
        return json.loads(entity["Data"])

    def take(
        self, kind: str, key: str, leave: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    ) -> dict[str, Any] | None:
        """A row's data, once: the first caller gets it, every later (or concurrent losing) caller None.

        With `leave`, the row is not deleted: `leave(data)` replaces its data, in the same conditional
        update that spends it, and `spent` reads it until the row expires."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        entity = self._entity(kind, key)
        if entity is None or entity.get("Spent"):
            return None
        data = json.loads(entity["Data"])
        spent = {"PartitionKey": kind, "RowKey": key, "Spent": True}
        if leave is not None:
            spent["Data"] = json.dumps(leave(data))
        try:
            self.table().update_entity(
                spent,
                mode=UpdateMode.MERGE,
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        except Exception as exc:
            raise StoreUnavailable(f"cannot spend a {kind} row: {type(exc).__name__}") from exc
        if leave is None:
            self.delete(kind, key)
        return data

    def spent(self, kind: str, key: str) -> dict[str, Any] | None:
        """The tombstone a `take` with `leave` left, while the row lives; None for any other row."""
        entity = self._entity(kind, key)
        if entity is None or not entity.get("Spent"):
            return None
        return json.loads(entity["Data"])

    def delete(self, kind: str, key: str) -> None:
        try:
            self.table().delete_entity(partition_key=kind, row_key=key)
        except Exception as exc:
            # The timer purges it later: a spent row is refused anyway.
            log.warning("Could not delete a %s row: %s", kind, type(exc).__name__)

    def count(self, kind: str, key: str, ttl: float) -> int:
        """Add one to a counter row and return its new value (optimistic concurrency, a few tries)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        for _ in range(8):
            entity = self._entity(kind, key)
            try:
                if entity is None:
                    self.put(kind, key, {"count": 1}, ttl, create=True)
                    return 1
                value = json.loads(entity["Data"])["count"] + 1
                row = {"PartitionKey": kind, "RowKey": key, "Data": json.dumps({"count": value})}
                self.table().update_entity(
                    row,
                    mode=UpdateMode.MERGE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return int(value)
            except (KeyError, ResourceExistsError, ResourceModifiedError):
                continue
            except StoreUnavailable:
                raise
            except Exception as exc:
                raise StoreUnavailable(f"cannot count {kind}: {type(exc).__name__}") from exc
        raise StoreUnavailable(f"the {kind} counter is too contended")

    def purge(self) -> int:
        """Delete every expired row; the timer calls it. Returns how many went."""
        gone = 0
        try:
            expired = self.table().query_entities(
                "ExpiresAt lt @now", parameters={"now": _now()}, select=["PartitionKey", "RowKey"]
            )
            for entity in expired:
                self.delete(entity["PartitionKey"], entity["RowKey"])
                gone += 1
        except Exception as exc:
            raise StoreUnavailable(f"cannot purge: {type(exc).__name__}") from exc
        return gone

    def _entity(self, kind: str, key: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self.table().get_entity(partition_key=kind, row_key=key)
        except ResourceNotFoundError:
            return None
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"cannot read a {kind} row: {type(exc).__name__}") from exc
        expires = entity.get("ExpiresAt")
        if expires is None or expires <= _now():
            return None
        return entity
