"""Valid tokens (v1/v2, user/app, single/multi-tenant) and what a valid token is allowed to do."""

from __future__ import annotations

import time

import jwt
import pytest
from support import CLIENT, OTHER_TENANT, TENANT, body_of, call, challenge, configure, env_for

from devhost.authority import LOCAL_CLIENT_APP_ID, LocalAuthority
from shared.auth.tokens import InvalidToken, TokenValidator
from shared.settings import load_settings

MULTI = {"AZURE_TENANT_ID": "organizations", "ALLOWED_TENANTS": f"{TENANT} {OTHER_TENANT}"}


def matrix_env(authority: LocalAuthority, tenancy: str) -> dict[str, str]:
    if tenancy == "single":
        return env_for(authority)
    return env_for(authority, "organizations", ALLOWED_TENANTS=MULTI["ALLOWED_TENANTS"])


@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("kind", ["user", "app"])
@pytest.mark.parametrize("tenancy", ["single", "multi"])
async def test_valid_token_matrix(authority: LocalAuthority, version: str, kind: str, tenancy: str) -> None:
    configure(matrix_env(authority, tenancy))
    tenant = TENANT if tenancy == "single" else OTHER_TENANT
    app = kind == "app"
    token = authority.mint(tenant, CLIENT, version=version, app=app, roles=("MCP.Invoke",) if app else ())
    response = await call("me", token=token)
    assert response.status_code == 200, response.get_body()
    me = body_of(response)
    assert me["tid"] == tenant
    assert me["kind"] == kind
    assert me["token_version"] == version
    assert me["client_app_id"] == LOCAL_CLIENT_APP_ID
    assert me["development"] is False
    if app:
        assert me["roles"] == ["MCP.Invoke"] and me["scopes"] == []
        assert "name" not in me
    else:
        assert me["scopes"] == ["user_impersonation"]
        assert me["name"] == "Local User"
        assert me[("preferred_username" if version == "2.0" else "upn")] == "local.user@example.test"


async def test_multi_tenant_refuses_a_tenant_not_allowed(authority: LocalAuthority) -> None:
    configure(env_for(authority, "organizations", ALLOWED_TENANTS=TENANT))
    response = await call("me", token=authority.mint(OTHER_TENANT, CLIENT))
    assert response.status_code == 401
    assert "tenant" in body_of(response)["error_description"]


async def test_multi_tenant_needs_an_allow_list(authority: LocalAuthority) -> None:
    configure(env_for(authority, "common"))
    response = await call("me", token=authority.mint(TENANT, CLIENT))
    assert response.status_code == 503
    assert "ALLOWED_TENANTS" in body_of(response)["error_description"]


async def test_a_key_published_for_one_tenant_does_not_sign_for_another(authority: LocalAuthority) -> None:
    """Tenant-independent discovery, but the key names a concrete issuer: the signing-key issuer check."""
    key_issuer = authority.issuer(TENANT)

    def fetch(url: str, timeout: float) -> object:
        import requests

        document = requests.get(url, timeout=timeout).json()
        if url.endswith("/keys"):
            for jwk in document["keys"]:
                jwk["issuer"] = key_issuer
        return document

    settings = load_settings(env_for(authority, "organizations", ALLOWED_TENANTS=f"{TENANT} {OTHER_TENANT}"))
    validator = TokenValidator(settings, fetch=fetch)
    assert (await validator.validate(authority.mint(TENANT, CLIENT))).tid == TENANT
    with pytest.raises(InvalidToken, match="another issuer"):
        await validator.validate(authority.mint(OTHER_TENANT, CLIENT))


async def test_user_without_the_scope_gets_403(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    response = await call("me", token=authority.mint(TENANT, CLIENT, scopes=("Files.Read",)))
    assert response.status_code == 403
    params = challenge(response)
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == f"api://{CLIENT}/user_impersonation"
    assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource")
    assert body_of(response)["error"] == "insufficient_scope"


async def test_app_without_the_role_gets_403(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    response = await call("me", token=authority.mint(TENANT, CLIENT, app=True, roles=("Other.Role",)))
    assert response.status_code == 403
    assert "MCP.Invoke" in body_of(response)["error_description"]
    assert challenge(response)["scope"] == f"api://{CLIENT}/.default"


async def test_token_with_neither_scopes_nor_roles_gets_403(authority: LocalAuthority) -> None:
    configure(env_for(authority))
    response = await call("me", token=authority.mint(TENANT, CLIENT, drop=("scp",)))
    assert response.status_code == 403


async def test_user_roles_do_not_stand_in_for_scopes(authority: LocalAuthority) -> None:
    """A user token is delegated: it is judged on its scopes even when it carries the app role."""
    configure(env_for(authority))
    token = authority.mint(TENANT, CLIENT, scopes=("Other",), roles=("MCP.Invoke",))
    assert (await call("me", token=token)).status_code == 403


async def test_required_scopes_and_roles_are_configurable(authority: LocalAuthority) -> None:
    configure(env_for(authority, REQUIRED_SCOPES="tools.read tools.call", REQUIRED_ROLES="Tools.All"))
    assert (await call("me", token=authority.mint(TENANT, CLIENT, scopes=("tools.call",)))).status_code == 200
    assert (await call("me", token=authority.mint(TENANT, CLIENT))).status_code == 403
    app_token = authority.mint(TENANT, CLIENT, app=True, roles=("Tools.All",))
    assert (await call("me", token=app_token)).status_code == 200


async def test_extra_audience_and_issuer_overrides(authority: LocalAuthority) -> None:
    custom_issuer = "https://issuer.example/custom/v2.0"
    configure(env_for(authority, TOKEN_AUDIENCE="api://contoso/mcp", TOKEN_ISSUER=custom_issuer))
    token = authority.mint(TENANT, CLIENT, claims={"aud": "api://contoso/mcp", "iss": custom_issuer})
    assert (await call("me", token=token)).status_code == 200
    # The override replaces the discovered issuer.
    assert (await call("me", token=authority.mint(TENANT, CLIENT))).status_code == 401


@pytest.mark.parametrize(("skew", "expired_for", "status"), [(300, 100, 200), (300, 400, 401), (0, 100, 401)])
async def test_clock_skew(authority: LocalAuthority, skew: int, expired_for: int, status: int) -> None:
    configure(env_for(authority, CLOCK_SKEW_SECONDS=str(skew)))
    token = authority.mint(TENANT, CLIENT, claims={"exp": int(time.time()) - expired_for})
    assert (await call("me", token=token)).status_code == status


async def test_display_claims_never_decide(authority: LocalAuthority) -> None:
    """Two tokens alike but for display names are the same principal; different oids are not."""
    configure(env_for(authority))
    a = body_of(await call("me", token=authority.mint(TENANT, CLIENT, claims={"preferred_username": "admin"})))
    b = body_of(await call("me", token=authority.mint(TENANT, CLIENT, claims={"name": "Someone Else"})))
    assert (a["tid"], a["oid"]) == (b["tid"], b["oid"])


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full validations: each one calls `jwt.decode` once."""
    count = [0]
    real_decode = jwt.decode

    def counting_decode(*args: object, **kwargs: object) -> object:
        count[0] += 1
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    return count


async def test_repeated_token_is_served_from_the_result_cache(authority: LocalAuthority, decodes: list[int]) -> None:
    validator = TokenValidator(load_settings(env_for(authority)))
    token = authority.mint(TENANT, CLIENT)
    first = await validator.validate(token)
    again = await validator.validate(token)
    assert first == again
    assert decodes[0] == 1


async def test_cached_result_never_outlives_the_token(authority: LocalAuthority, decodes: list[int]) -> None:
    now = [time.time()]
    validator = TokenValidator(load_settings(env_for(authority)), clock=lambda: now[0])
    token = authority.mint(TENANT, CLIENT, minutes=1)
    await validator.validate(token)
    await validator.validate(token)
    assert decodes[0] == 1
    now[0] += 61  # past `exp`: the entry is not used, the token is validated afresh
    await validator.validate(token)
    assert decodes[0] == 2


async def test_result_cache_is_bounded(authority: LocalAuthority, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.auth import tokens

    monkeypatch.setattr(tokens, "RESULT_CACHE_SIZE", 20)
    validator = TokenValidator(load_settings(env_for(authority)))
    minted = [authority.mint(TENANT, CLIENT, claims={"uti": str(n)}) for n in range(50)]
    for token in minted:
        await validator.validate(token)
    assert len(validator._accepted) == 20
    assert minted[-1] in validator._accepted
