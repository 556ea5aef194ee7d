"""The key cache against an authority that goes down, slows, talks garbage and rotates its keys."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from support import CLIENT, TENANT, body_of, call, configure, env_for
from test_hostile_tokens import ATTACKER, attacker

from devhost.authority import LocalAuthority
from shared.auth.tokens import InvalidToken, KeysUnavailable, TokenValidator
from shared.settings import load_settings


def validator_for(authority: LocalAuthority, **env: str) -> TokenValidator:
    return TokenValidator(load_settings(env_for(authority, **env)))


async def test_unknown_kid_flood_causes_at_most_two_key_fetches(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    assert (await call("me", token=authority.mint(TENANT, CLIENT))).status_code == 200
    for n in range(200):
        forged = attacker(authority, {"kid": f"made-up-{n}"})
        assert (await call("me", token=forged)).status_code == 401
    assert authority.key_fetches() <= 2


async def test_cold_cache_under_concurrency_fetches_once(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    authority.delay = 0.2  # keep the first fetch in flight while the others arrive
    tokens = [authority.mint(TENANT, CLIENT, claims={"uti": str(n)}) for n in range(50)]
    responses = await asyncio.gather(*(call("me", token=t) for t in tokens))
    assert [r.status_code for r in responses] == [200] * 50
    assert authority.key_fetches() == 1


@pytest.mark.parametrize("mode", ["down", "garbage", "empty"])
async def test_no_keys_at_all_is_503_not_401(authority: LocalAuthority, mode: str) -> None:
    configure(env_for(authority))
    authority.mode = mode  # type: ignore[assignment]
    response = await call("me", token=authority.mint(TENANT, CLIENT))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert body_of(response)["error"] == "temporarily_unavailable"
    assert "WWW-Authenticate" not in response.headers


async def test_unreachable_authority_is_503(authority: LocalAuthority) -> None:
    port = authority._server.server_address[1]
    authority.stop()
    configure({**env_for(authority), "AZURE_AUTHORITY": f"http://127.0.0.1:{port}/{TENANT}"})
    response = await call("me", token=authority.mint(TENANT, CLIENT))
    assert response.status_code == 503
    authority.start = lambda: authority  # type: ignore[method-assign]  # the fixture must not stop it twice
    authority.stop = lambda: None  # type: ignore[method-assign]


async def test_recovers_by_itself_once_the_authority_answers(authority: LocalAuthority) -> None:
    configure(env_for(authority, JWKS_MIN_REFRESH_SECONDS="1"))
    token = authority.mint(TENANT, CLIENT)
    authority.mode = "down"
    assert (await call("me", token=token)).status_code == 503
    # Within the back-off nothing is fetched again: the authority is not hammered.
    before = sum(authority.requests.values())
    assert (await call("me", token=token)).status_code == 503
    assert sum(authority.requests.values()) == before
    authority.mode = "up"
    await asyncio.sleep(1.05)
    assert (await call("me", token=token)).status_code == 200


async def test_slow_authority_times_out_without_blocking_the_loop(authority: LocalAuthority) -> None:
    configure(env_for(authority, JWKS_TIMEOUT_SECONDS="1"))
    authority.delay = 3
    order: list[str] = []

    async def protected() -> None:
        response = await call("me", token=authority.mint(TENANT, CLIENT))
        order.append(f"me {response.status_code}")

    async def health_meanwhile() -> None:
        await asyncio.sleep(0.05)
        response = await call("health", path="/health")
        order.append(f"health {response.status_code}")

    await asyncio.gather(protected(), health_meanwhile())
    # The health check was answered while the key fetch was still waiting on the slow authority.
    assert order == ["health 200", "me 503"]


async def test_stale_keys_serve_through_an_outage_up_to_the_limit(authority: LocalAuthority) -> None:
    validator = validator_for(
        authority, JWKS_REFRESH_SECONDS="1", JWKS_MAX_STALE_SECONDS="2", JWKS_MIN_REFRESH_SECONDS="1"
    )
    assert (await validator.validate(authority.mint(TENANT, CLIENT))).tid == TENANT
    authority.mode = "down"
    await asyncio.sleep(1.1)
    # Refresh is due and fails; the last good keys still validate (a first-seen token: no result cache).
    assert (await validator.validate(authority.mint(TENANT, CLIENT, claims={"uti": "a"}))).tid == TENANT
    await asyncio.sleep(0.05)  # let the background refresh fail
    assert authority.requests[f"/{TENANT}/v2.0/.well-known/openid-configuration"] >= 2
    await asyncio.sleep(1.1)
    with pytest.raises(KeysUnavailable):
        await validator.validate(authority.mint(TENANT, CLIENT, claims={"uti": "b"}))


async def test_rotated_key_is_picked_up_and_withdrawn_key_refused(authority: LocalAuthority) -> None:
    validator = validator_for(authority, JWKS_MIN_REFRESH_SECONDS="1")
    old_token = authority.mint(TENANT, CLIENT)
    assert (await validator.validate(old_token)).tid == TENANT
    new_key = authority.rotate()  # the old key is withdrawn
    new_token = authority.mint(TENANT, CLIENT, key=new_key)
    # Within the cool-down an unknown kid does not refresh.
    with pytest.raises(InvalidToken):
        await validator.validate(new_token)
    await asyncio.sleep(1.05)
    assert (await validator.validate(new_token)).tid == TENANT
    assert authority.key_fetches() == 2
    # The old token was cached as accepted; its key is gone, so the cached result is dropped.
    with pytest.raises(InvalidToken, match="does not publish"):
        await validator.validate(old_token)


async def test_periodic_refresh_runs_in_the_background(authority: LocalAuthority) -> None:
    validator = validator_for(authority, JWKS_REFRESH_SECONDS="1")
    await validator.validate(authority.mint(TENANT, CLIENT))
    await asyncio.sleep(1.1)
    await validator.validate(authority.mint(TENANT, CLIENT, claims={"uti": "x"}))
    await asyncio.sleep(0.1)
    assert authority.key_fetches() == 2


async def test_fetches_are_bounded_whatever_the_load(authority: LocalAuthority) -> None:
    validator = validator_for(authority)
    token = authority.mint(TENANT, CLIENT)
    for _ in range(500):
        await validator.validate(token)
    for n in range(100):
        with contextlib.suppress(InvalidToken):
            await validator.validate(authority.mint(TENANT, CLIENT, key=ATTACKER, claims={"uti": str(n)}))
    assert authority.key_fetches() == 1


def test_loopback_and_https_authorities_are_accepted() -> None:
    for url in (
        "https://login.microsoftonline.us/t",
        "http://127.0.0.1:1/t",
        "http://localhost:1/t",
        "http://[::1]:1/t",
    ):
        settings = load_settings({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_AUTHORITY": url})
        assert settings.problems == ()


async def test_a_repeated_token_keeps_the_keys_fresh_and_loses_a_withdrawn_key(authority: LocalAuthority) -> None:
    """A client that reuses one token for its hour must not keep the keys from being refreshed."""
    validator = validator_for(authority, JWKS_REFRESH_SECONDS="1")
    token = authority.mint(TENANT, CLIENT)
    await validator.validate(token)
    authority.rotate()  # the token's key is withdrawn
    await asyncio.sleep(1.1)
    await validator.validate(token)  # served from the result cache, but the due refresh starts
    await asyncio.sleep(0.2)
    assert authority.key_fetches() == 2
    with pytest.raises(InvalidToken):
        await validator.validate(token)
