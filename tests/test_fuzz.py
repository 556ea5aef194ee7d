"""Whatever arrives in the Authorization header, the answer is 401 (never 500, never a pass)."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import TENANT, b64, call, configure, env_for

from devhost.authority import LocalAuthority

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=300
) | st.binary(max_size=300).map(lambda raw: raw.decode("latin-1").strip() or "x")


def check(value: str) -> None:
    response = asyncio.run(call("me", headers={"Authorization": value}))
    assert response.status_code == 401, (value, response.get_body())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=header_text)
def test_random_header_bytes_are_401(authority: LocalAuthority, raw: str) -> None:
    configure(env_for(authority))
    check(raw)
    check(f"Bearer {raw}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=json_values, payload=json_values, signature=st.binary(max_size=64))
def test_random_json_tokens_are_401(
    authority: LocalAuthority, header: object, payload: object, signature: bytes
) -> None:
    configure(env_for(authority))
    segments = [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    check("Bearer " + ".".join(segments))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(st.sampled_from(["aud", "iss", "exp", "nbf", "iat", "tid", "ver", "scp"]), json_values))
def test_random_claims_signed_with_the_real_key_are_401(authority: LocalAuthority, payload: dict) -> None:
    """Properly signed by the published key, but claims of any type and value: still never a 500."""
    import jwt

    configure(env_for(authority))
    raw = json.dumps({"tid": TENANT, **payload}).encode()
    key = authority.keys[0]
    token = jwt.api_jws.encode(raw, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    check(f"Bearer {token}")
