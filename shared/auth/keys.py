"""Signing keys and issuers of one authority, fetched from its discovery documents and kept fresh.

Rules (Microsoft's signing-key rollover guidance, and the gaps of other validators closed):
- keys are parsed once per fetch and looked up by `kid`;
- a periodic refresh runs in the background while the current keys keep serving;
- an unknown `kid` forces a refresh at most once per `min_refresh` seconds, so a flood of made-up
  `kid`s cannot turn into a flood of fetches;
- one fetch at a time: concurrent callers wait for the fetch in flight;
- a failed refresh keeps the last good keys for up to `max_stale` seconds;
- a key missing from a successful refresh is gone at once;
- fetches run in a worker thread, so the event loop keeps serving other requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from shared.auth.fetch import HttpFetcher
from shared.telemetry import auth as telemetry

log = logging.getLogger(__name__)

MAX_KID_LENGTH = 128
# How long a failed fetch is remembered (at most; never longer than `min_refresh`): meanwhile
# callers with nothing cached get 503 at once instead of each waiting for a timeout of their own.
FAILURE_BACKOFF_SECONDS = 10.0

FetchJson = Callable[[str, float], Any]


class KeysUnavailable(Exception):
    """The authority cannot be reached and no usable keys are cached."""

    reason = "keys_unavailable"  # for telemetry, as InvalidToken's (shared/telemetry/auth.py REASONS)

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SigningKey:
    kid: str
    public_key: RSAPublicKey
    # The key's own `issuer` (v2 key sets); a `{tenantid}` template for tenant-independent keys.
    issuer: str | None


@dataclass(frozen=True)
class AuthorityMetadata:
    issuer_v2: str
    issuer_v1: str
    keys: Mapping[str, SigningKey]
    fetched_at: float


def parse_keys(jwks: Any) -> dict[str, SigningKey]:
    from jwt.algorithms import RSAAlgorithm

    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("the key set is not a JSON object with a `keys` list")
    keys: dict[str, SigningKey] = {}
    for jwk in jwks["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        kid, issuer = jwk.get("kid"), jwk.get("issuer")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            continue
        try:
            # Only the modulus and exponent: `x5c` chains are not needed to verify and are not trusted.
            key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]})
        except Exception:
            log.warning("Skipped an unparseable signing key")
            continue
        if isinstance(key, RSAPublicKey):
            keys[kid] = SigningKey(kid, key, issuer if isinstance(issuer, str) else None)
    if not keys:
        raise ValueError("the key set holds no usable RSA signing keys")
    return keys


class AuthorityKeys:
    """Discovery documents (v2 and v1) and the signing keys of one authority."""

    def __init__(
        self,
        authority: str,
        *,
        refresh: float,
        min_refresh: float,
        max_stale: float,
        timeout: float,
        fetch: FetchJson | None = None,
        clock: Callable[[], float] = time.monotonic,
        failure_backoff: float = FAILURE_BACKOFF_SECONDS,
    ) -> None:
        self.authority = authority.rstrip("/")
        self._refresh, self._min_refresh, self._max_stale = refresh, min_refresh, max_stale
        self._timeout, self._fetch, self._clock = timeout, fetch or HttpFetcher(), clock
        self._failure_backoff = min(failure_backoff, min_refresh)
        self._current: AuthorityMetadata | None = None
        self._last_attempt = -float("inf")
        self._last_failure: str | None = None
        self._inflight: asyncio.Future[None] | None = None
        telemetry.watch_key_age(self, self._age)

    def _age(self) -> float | None:
        meta = self._current
        return None if meta is None else self._clock() - meta.fetched_at

    @property
    def current(self) -> AuthorityMetadata | None:
        """The usable metadata, or None when nothing is cached or it is older than `max_stale`."""
        meta = self._current
        if meta is not None and self._clock() - meta.fetched_at > self._max_stale:
            return None
        return meta

    async def metadata(self) -> AuthorityMetadata:
        """Usable metadata, fetching first when there is none; refreshes in the background when due."""
        meta = self.current
        now = self._clock()
        if meta is None:
            if now - self._last_attempt < self._failure_backoff and self._inflight is None:
                raise self._unavailable()
            await self._refresh_once("first" if self._current is None else "scheduled")
            meta = self.current
            if meta is None:
                raise self._unavailable()
        else:
            self.refresh_if_due()
        return meta

    def refresh_if_due(self) -> None:
        """Start a background refresh when one is due, and never wait for it.

        Called for every token validated afresh, and for the result cache's hits too: a client
        that keeps one token for its hour must not keep the keys from ever being refreshed.
        """
        meta, now = self._current, self._clock()
        if meta is None:
            return
        # Due: refresh in the background while these keys keep serving; after a failed
        # attempt, try again no sooner than the back-off.
        due = now - meta.fetched_at > self._refresh
        if due and now - self._last_attempt > min(self._refresh, self._failure_backoff):
            self._start_refresh("scheduled")

    async def key(self, kid: str) -> SigningKey | None:
        """The key for `kid`; an unknown `kid` refreshes first, at most once per `min_refresh`."""
        meta = await self.metadata()
        found = meta.keys.get(kid)
        if found is None and self._clock() - self._last_attempt >= self._min_refresh:
            await self._refresh_once("unknown_kid")
            found = (self.current or meta).keys.get(kid)
        return found

    def _unavailable(self) -> KeysUnavailable:
        return KeysUnavailable(
            f"signing keys of {self.authority} are unavailable: {self._last_failure or 'not fetched yet'}",
            retry_after=max(1, int(self._failure_backoff)),
        )

    def _start_refresh(self, trigger: str) -> asyncio.Future[None]:
        inflight = self._inflight
        loop = asyncio.get_running_loop()
        if inflight is None or inflight.done() or inflight.get_loop() is not loop:
            inflight = self._inflight = asyncio.ensure_future(self._do_refresh(trigger))
        return inflight

    async def _refresh_once(self, trigger: str) -> None:
        # Shielded: one caller giving up must not cancel the fetch the others are waiting for.
        await asyncio.shield(self._start_refresh(trigger))

    async def _do_refresh(self, trigger: str) -> None:
        self._last_attempt = self._clock()
        try:
            with telemetry.key_fetch(trigger):
                self._current = await asyncio.to_thread(self._fetch_all)
            self._last_failure = None
        except Exception as exc:
            self._last_failure = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("Refreshing signing keys of %s failed: %s", self.authority, self._last_failure)
        finally:
            self._inflight = None

    def _fetch_all(self) -> AuthorityMetadata:
        v2 = self._fetch(f"{self.authority}/v2.0/.well-known/openid-configuration", self._timeout)
        v1 = self._fetch(f"{self.authority}/.well-known/openid-configuration", self._timeout)
        for doc in (v2, v1):
            if not isinstance(doc, dict) or not isinstance(doc.get("issuer"), str):
                raise ValueError("a discovery document has no issuer")
        jwks_uri = v2.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("the v2 discovery document has no jwks_uri")
        keys = parse_keys(self._fetch(jwks_uri, self._timeout))
        return AuthorityMetadata(v2["issuer"], v1["issuer"], keys, self._clock())
