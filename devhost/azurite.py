"""Azurite's Table service on loopback: the OAuth proxy's storage locally (devhost) and in the tests.

Azurite (npm `azurite`) is installed into .tools/ by scripts/install-tools.sh with the Node it runs on.
It keeps nothing on disk (`--inMemoryPersistence`): a restart forgets registrations and consents, as a
fresh storage account would. Its account name and key are Azurite's published development ones.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devhost import processes

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / ".tools" / "node_modules" / ".bin" / "node"
TABLE_MAIN = ROOT / ".tools" / "node_modules" / "azurite" / "dist" / "src" / "table" / "main.js"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (documented by Microsoft; it opens nothing but a local emulator).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def missing() -> str | None:
    """Why Azurite cannot start here, or None."""
    if not NODE.exists() or not TABLE_MAIN.exists():
        return f"Azurite is not installed in .tools ({TABLE_MAIN}); run `make tools` (scripts/install-tools.sh)"
    return None


@dataclass
class Azurite:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_KEY};"
            f"TableEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};"
        )

    def stop(self) -> None:
        processes.stop(self.process)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: on Linux, have the kernel stop Azurite when its parent ends, however it ends
    (uvicorn re-raises SIGTERM after shutting down, so devhost's atexit hooks never run)."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(timeout: float = 30) -> Azurite:
    if reason := missing():
        raise RuntimeError(reason)
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own Node and Azurite from .tools, fixed arguments
        [
            str(NODE),
            str(TABLE_MAIN),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return Azurite(process, port)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("Azurite did not start in time")
