"""Hostile and broken tokens: every one is answered with exactly 401 and a correct challenge."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support import CLIENT, OTHER_TENANT, TENANT, b64, body_of, call, challenge, configure, env_for

from devhost.authority import LocalAuthority, SigningKey

ATTACKER = SigningKey.generate()


def forge(header: dict, payload: dict | list | bytes, signature: bytes = b"sig") -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64(json.dumps(header).encode())}.{b64(raw)}.{b64(signature)}"


def claims(a: LocalAuthority, **override: object) -> dict:
    now = int(time.time())
    base = {
        "aud": CLIENT,
        "iss": a.issuer(TENANT),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "tid": TENANT,
        "oid": "0f0e0d0c-0b0a-0908-0706-050403020100",
        "sub": "s",
        "ver": "2.0",
        "scp": "user_impersonation",
    }
    base.update(override)
    return base


def hs256_with_public_key(a: LocalAuthority) -> str:
    # The classic key-confusion attack: HMAC keyed with the RSA public key the server trusts.
    pem = (
        a.keys[0]
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": a.keys[0].kid}).encode())
    body = b64(json.dumps(claims(a)).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def signed(a: LocalAuthority, **options: object) -> str:
    return a.mint(TENANT, CLIENT, **options)  # type: ignore[arg-type]


def tamper(token: str) -> str:
    head, body, sig = token.split(".")
    payload = json.loads(jwt.utils.base64url_decode(body))
    payload["scp"] = "user_impersonation admin"
    return f"{head}.{b64(json.dumps(payload).encode())}.{sig}"


def other_alg(a: LocalAuthority, alg: str) -> str:
    return jwt.encode(claims(a), a.keys[0].private_key, algorithm=alg, headers={"kid": a.keys[0].kid})


def ec_signed(a: LocalAuthority) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims(a), key, algorithm="ES256", headers={"kid": a.keys[0].kid})


def attacker(a: LocalAuthority, headers: dict) -> str:
    return jwt.encode(claims(a), ATTACKER.private_key, algorithm="RS256", headers=headers)


jwk_header = {"kty": "RSA", "kid": ATTACKER.kid, "n": ATTACKER.n, "e": ATTACKER.e}

HOSTILE: dict[str, Callable[[LocalAuthority], str]] = {
    "alg none": lambda a: forge({"alg": "none", "typ": "JWT"}, claims(a), b"") + "x",
    "alg None casing": lambda a: forge({"alg": "None", "kid": a.keys[0].kid}, claims(a)),
    "alg none, empty signature": lambda a: forge({"alg": "none"}, claims(a), b""),
    "HS256 keyed with the RSA public key": hs256_with_public_key,
    "kid path traversal": lambda a: attacker(a, {"kid": "../../../../dev/null"}),
    "kid SQL injection": lambda a: attacker(a, {"kid": "' OR '1'='1"}),
    "kid too long": lambda a: signed(a, headers={"kid": "k" * 200}),
    "kid missing": lambda a: jwt.encode(claims(a), a.keys[0].private_key, algorithm="RS256"),
    "kid not a string": lambda a: forge({"alg": "RS256", "kid": 7}, claims(a)),
    "jku injection": lambda a: attacker(a, {"kid": ATTACKER.kid, "jku": "http://127.0.0.1:9/keys"}),
    "x5u injection": lambda a: attacker(a, {"kid": ATTACKER.kid, "x5u": "http://127.0.0.1:9/cert"}),
    "embedded jwk": lambda a: attacker(a, {"kid": ATTACKER.kid, "jwk": jwk_header}),
    "embedded x5c with a known kid": lambda a: attacker(a, {"kid": a.keys[0].kid, "x5c": ["MIIB"]}),
    "expired": lambda a: signed(a, claims={"exp": int(time.time()) - 3600}),
    "nbf in the future": lambda a: signed(a, claims={"nbf": int(time.time()) + 3600}),
    "iat in the future": lambda a: signed(a, claims={"iat": int(time.time()) + 3600}),
    "exp missing": lambda a: signed(a, drop=("exp",)),
    "exp not a number": lambda a: signed(a, claims={"exp": "never"}),
    "wrong audience": lambda a: signed(a, claims={"aud": "0a0b0c0d-0000-4000-8000-000000000000"}),
    "Microsoft Graph audience (GUID)": lambda a: signed(a, claims={"aud": "00000003-0000-0000-c000-000000000000"}),
    "Microsoft Graph audience (URL)": lambda a: signed(a, claims={"aud": "https://graph.microsoft.com"}),
    "audience missing": lambda a: signed(a, drop=("aud",)),
    "wrong issuer": lambda a: signed(a, claims={"iss": f"https://evil.example/{TENANT}/v2.0"}),
    "issuer prefix": lambda a: signed(a, claims={"iss": a.issuer(TENANT)[:-2]}),
    "issuer with a suffix": lambda a: signed(a, claims={"iss": a.issuer(TENANT) + "/extra"}),
    "issuer missing": lambda a: signed(a, drop=("iss",)),
    "cross-tenant": lambda a: a.mint(OTHER_TENANT, CLIENT),
    "tid disagrees with iss": lambda a: signed(a, claims={"tid": OTHER_TENANT}),
    "tid not a GUID": lambda a: signed(a, claims={"tid": "contoso.onmicrosoft.com"}),
    "tid missing": lambda a: signed(a, drop=("tid",)),
    "ver disagrees with the issuer": lambda a: signed(a, claims={"ver": "1.0"}),
    "ver missing": lambda a: signed(a, drop=("ver",)),
    "tampered payload": lambda a: tamper(signed(a)),
    "stripped signature": lambda a: signed(a).rsplit(".", 1)[0] + ".",
    "signed by another key under a known kid": lambda a: attacker(a, {"kid": a.keys[0].kid}),
    "unknown kid": lambda a: attacker(a, {"kid": ATTACKER.kid}),
    "crit header": lambda a: signed(a, headers={"crit": ["exp"], "exp": 1}),
    "oversized": lambda a: signed(a, claims={"groups": ["g" * 36] * 600}),
    "bad base64": lambda a: "%%%." + signed(a).split(".", 1)[1],
    "payload not UTF-8": lambda a: forge({"alg": "RS256", "kid": a.keys[0].kid}, b"\xff\xfe\xfd"),
    "payload a JSON array": lambda a: jwt.api_jws.encode(
        b"[1,2]", a.keys[0].private_key, algorithm="RS256", headers={"kid": a.keys[0].kid}
    ),
    "header a JSON array": lambda a: f"{b64(b'[1]')}.{b64(b'{}')}.{b64(b'x')}",
    "two segments": lambda a: ".".join(signed(a).split(".")[:2]),
    "four segments": lambda a: signed(a) + ".abc",
    "RS512 with the right key": lambda a: other_alg(a, "RS512"),
    "PS256 with the right key": lambda a: other_alg(a, "PS256"),
    "ES256": ec_signed,
    "not a JWT at all": lambda a: "hello",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_token_is_401_with_challenge(authority: LocalAuthority, name: str) -> None:
    configure(env_for(authority))
    token = HOSTILE[name](authority)
    response = await call("me", token=token)
    assert response.status_code == 401, (name, response.get_body())
    params = challenge(response)
    assert params["error"] == "invalid_token"
    assert params["resource_metadata"] == "http://localhost:7071/.well-known/oauth-protected-resource"
    assert params["scope"] == f"api://{CLIENT}/user_impersonation"
    body = body_of(response)
    assert body["error"] == "invalid_token" and body["error_description"]
    # Nothing of the token is echoed back.
    for part in token.split("."):
        if len(part) > 8:
            assert part not in response.get_body().decode()
            assert part not in response.headers.get("WWW-Authenticate", "")


def test_there_are_at_least_thirty_hostile_cases() -> None:
    assert len(HOSTILE) >= 30


async def test_injected_key_urls_are_never_fetched(authority: LocalAuthority) -> None:
    with LocalAuthority(ATTACKER) as evil:
        configure(env_for(authority))
        headers = {"kid": ATTACKER.kid, "jku": f"{evil.url}/{TENANT}/discovery/v2.0/keys", "x5u": f"{evil.url}/x"}
        response = await call("me", token=attacker(authority, headers))
        assert response.status_code == 401
        assert sum(evil.requests.values()) == 0


@pytest.mark.parametrize(
    ("header", "description"),
    [
        ("Basic dXNlcjpwYXNz", "must carry a Bearer token"),
        ("Bearer", "must carry a Bearer token"),
        ("Bearer    ", "must carry a Bearer token"),
        ("   ", None),
    ],
)
async def test_authorization_header_without_a_bearer_token(
    authority: LocalAuthority, header: str, description: str | None
) -> None:
    configure(env_for(authority))
    response = await call("me", headers={"Authorization": header})
    assert response.status_code == 401
    if description:
        assert challenge(response)["error"] == "invalid_token"
        assert description in body_of(response)["error_description"]
    else:
        assert "error" not in challenge(response)
