from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.authority import LocalAuthority, SigningKey
from shared import runtime

# Fixtures for every test module: headless Chromium (`browser`, `page`) and Azurite (`tables`).
pytest_plugins = ["browser", "facade_support"]


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def authority(signing_key: SigningKey) -> Iterator[LocalAuthority]:
    """A fresh loopback Entra stand-in per test, so request counts and modes start clean."""
    with LocalAuthority(signing_key) as served:
        yield served


@pytest.fixture(autouse=True)
def fresh_runtime() -> Iterator[None]:
    """No test sees the settings, caches or keys of another."""
    yield
    runtime.reset({})
