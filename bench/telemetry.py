"""6. Telemetry on against telemetry off, through devhost: the same server, exporting or not.

"On" is devhost with OTEL_EXPORTER_OTLP_ENDPOINT pointed at an OTLP/HTTP sink on loopback (a stand-in
collector that reads each export and answers 200), sampling traces as the deployment does: at most 5 a
second (`microsoft.rate_limited`, infra/modules/function-app.bicep; devhost/sampling.AZURE_DEFAULT), which
is also the default of the Azure Monitor distro the Functions worker runs. Every metric point and log
record is made and sent; every request's spans are made, and the kept traces are batched and sent as to a
real collector. "Every trace" is "on" keeping every trace (OTEL_TRACES_SAMPLER=parentbased_always_on, the
SDK's default, which an operator can choose): reported beside the target, not judged by it. "Off" is the
same devhost without telemetry, where nothing imports OpenTelemetry's SDK. Targets (issue 16):

- throughput, telemetry on / off: >= 0.9 (server CPU per answered `tools/call`, and requests per second);
- cold start to the first authenticated `tools/call`: within +10%;
- RSS after the load: within +15 MiB.

Where valgrind is installed, the three are also counted in instructions per request
(bench/instructions.py's way: a server under valgrind answering N1, then in a new process N2
requests; (Ir(N2) - Ir(N1)) / (N2 - N1)), with the SDK's default metric export interval (60 s): under
valgrind's slowdown a 1 s interval would export twenty times as often per request. A rate limit is a
rate in time, and valgrind runs some fifty times slower: counted as it is, 5 traces a second would keep
most of the counted requests' traces. So "on" is counted with the SDK's ratio sampler
(`parentbased_traceidratio`) at the share of traces the rate limit kept in the timed load (the sink
counts them), which is the same work per request. CPU time here swings by a quarter between runs, a
count by under 0.1%, so where there is a count the throughput verdict is taken on it. (The cold start
is not counted: a counted server is stopped after its first answer, and its exit flushes the telemetry,
which the first answer does not wait for.)
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import common
from cold_start import first_answer


@dataclass
class Received:
    """What a sink was sent: bytes per signal path, and the trace exports themselves where kept."""

    port: int = 0
    bytes: dict[str, int] = field(default_factory=dict)
    traces: list[bytes] | None = None

    def root_spans(self) -> int:
        """Spans without a parent in the kept trace exports: one per trace kept."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        return sum(
            1
            for body in self.traces or ()
            for resource in ExportTraceServiceRequest.FromString(body).resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
            if not span.parent_span_id
        )


@contextlib.contextmanager
def otlp_sink(keep_traces: bool = False) -> Iterator[Received]:
    """An OTLP/HTTP endpoint on loopback that reads every export and answers 200; counts bytes per signal."""
    received = Received(traces=[] if keep_traces else None)

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.bytes[self.path] = received.bytes.get(self.path, 0) + len(body)
            if received.traces is not None and self.path == "/v1/traces":
                received.traces.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((common.HOST, 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        received.port = server.server_address[1]
        yield received
    finally:
        server.shutdown()
        server.server_close()


EVERY_TRACE = {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}
WARM_UP = 500


def telemetry_env(base: dict[str, str], port: int) -> dict[str, str]:
    # Short export intervals, so the exporters' work falls inside the measured load.
    return {
        **base,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{common.HOST}:{port}",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    }


def measure(seconds: float, reps: int, concurrency: int, cold_reps: int) -> dict[str, Any]:
    from devhost.sampling import AZURE_DEFAULT

    with common.authority() as auth, otlp_sink(keep_traces=True) as sink, otlp_sink() as every_sink:
        token = auth.mint(minutes=60)
        off = common.clean_env(auth.env())
        envs = {
            "off": off,
            "on": telemetry_env(off, sink.port) | AZURE_DEFAULT,
            "every": telemetry_env(off, every_sink.port) | EVERY_TRACE,
        }
        ports = {name: common.free_port() for name in envs}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in envs}
        rss: dict[str, float] = {}
        with contextlib.ExitStack() as stack:
            servers = {
                name: stack.enter_context(common.server(name, common.devhost_command(ports[name]), env, ports[name]))
                for name, env in envs.items()
            }
            for server in servers.values():  # warm-up: imports, first key fetch, caches
                common.load_run(server.url, token, concurrency=concurrency, requests=WARM_UP)
            for rep in range(reps):
                for name in list(servers) if rep % 2 == 0 else list(servers)[::-1]:
                    server = servers[name]
                    runs[name].append(
                        common.load_run(
                            server.url, token, concurrency=concurrency, duration=seconds, server_pid=server.pid
                        )
                    )
            time.sleep(1.5)  # one more metric export inside the process
            rss = {name: common.rss_mib(server.pid) for name, server in servers.items()}
        # The servers have stopped and flushed their last batches: the share of "on"'s traces that were kept.
        kept = sink.root_spans() / (WARM_UP + sum(r["requests"] for r in runs["on"]))
        exported = dict(sink.bytes)
        cold: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(cold_reps):
            for name in cold:
                wall, _cpu = first_answer("ours", "/mcp", envs[name], token)
                cold[name].append(wall)
        counted = count_instructions(envs, token, kept) if shutil.which("valgrind") else None
    rps = {name: common.median([r["rps"] for r in v]) for name, v in runs.items()}
    cpu = {name: common.median([r["server_cpu_us"] for r in v]) for name, v in runs.items()}
    cold_median = {name: common.median(v) for name, v in cold.items()}
    throughput_ratio = counted["throughput_ratio"] if counted else cpu["off"] / cpu["on"]
    cold_ratio = cold_median["on"] / cold_median["off"]
    return {
        "rps": rps,
        "server_cpu_us": cpu,
        "throughput_ratio": cpu["off"] / cpu["on"],
        "rps_ratio": rps["on"] / rps["off"],
        "every_ratio": cpu["off"] / cpu["every"],
        "kept_share": kept,
        "cold_start_s": cold,
        "cold_ratio": cold_median["on"] / cold_median["off"],
        "rss_mib": rss,
        "rss_delta_mib": rss["on"] - rss["off"],
        "instructions": counted,
        "verdict_by": "instructions" if counted else "cpu",
        "exported_bytes": exported,
        "met": {
            "throughput": throughput_ratio >= 0.9,
            "cold_start": cold_ratio <= 1.10,
            "rss": rss["on"] - rss["off"] <= 15,
            # Log records are written for refused tokens only, and this load has none.
            "exported": all(exported.get(p, 0) > 0 for p in ("/v1/traces", "/v1/metrics")),
        },
    }


def count_instructions(envs: dict[str, dict[str, str]], token: str, kept: float) -> dict[str, Any]:
    """Instructions per request of "off", "on" (sampling the share `kept` by trace id) and "every"."""
    from instructions import COUNTED, per_request, serve

    ratio = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": f"{kept:.6f}"}
    counted_envs = {"off": envs["off"], "on": envs["on"] | ratio, "every": envs["every"]}

    def counted(name: str) -> Callable[[int], int]:
        env = {k: v for k, v in counted_envs[name].items() if k != "OTEL_METRIC_EXPORT_INTERVAL"}
        return lambda n: serve("ours", env, token, n)

    per = per_request({name: counted(name) for name in counted_envs})
    return {
        "per_request": per,
        "throughput_ratio": per["off"] / per["on"],
        "every_ratio": per["off"] / per["every"],
        "requests": list(COUNTED),
    }


def report(data: dict[str, Any]) -> str:
    met = data["met"]
    names = ("off", "on", "every")
    rows = [
        ["throughput: server CPU per tools/call (µs)", *(f"{data['server_cpu_us'][n]:.0f}" for n in names)],
        ["throughput: requests per second", *(f"{data['rps'][n]:.0f}" for n in names)],
        [
            "cold start to the first tools/call (ms, median)",
            *(f"{common.median(data['cold_start_s'][n]) * 1000:.0f}" for n in ("off", "on")),
            "",
        ],
        ["RSS after the load (MiB)", *(f"{data['rss_mib'][n]:.1f}" for n in names)],
    ]
    exported = ", ".join(f"{path} {size / 1024:.0f} KiB" for path, size in sorted(data["exported_bytes"].items()))
    counted = data.get("instructions")
    throughput = f"{data['throughput_ratio']:.2f}× by server CPU, {data['rps_ratio']:.2f}× by requests per second"
    every = f"{data['every_ratio']:.2f}× by server CPU"
    if counted:
        per = counted["per_request"]
        rows.append(["instructions per tools/call (M)", *(f"{per[n] / 1e6:.2f}" for n in names)])
        throughput = f"{counted['throughput_ratio']:.2f}× by instructions ({throughput})"
        every = f"{counted['every_ratio']:.2f}× by instructions ({every})"
    return "\n".join(
        [
            common.table(["telemetry", "off", "on (at most 5 traces/s, as deployed)", "on, every trace"], rows),
            "",
            f"Throughput on/off: {throughput} (target ≥ 0.9×): {common.verdict(met['throughput'])}; the rate "
            f"limit kept {data['kept_share']:.2%} of the traces. Keeping every trace: {every} (reported). Cold "
            f"start on/off: {data['cold_ratio']:.2f}× (target ≤ 1.10×): {common.verdict(met['cold_start'])}. "
            f"RSS: {data['rss_delta_mib']:+.1f} MiB (target ≤ +15 MiB): {common.verdict(met['rss'])}. Exported "
            f"to the sink: {exported or 'nothing'} ({common.verdict(met['exported'])}).",
        ]
    )


def main() -> int:
    options: dict[str, common.Option] = {
        "seconds": (float, 4.0),
        "reps": (int, 4),
        "concurrency": (int, 8),
        "cold-reps": (int, 5),
    }
    return common.run_step("telemetry", __doc__, options, measure, report)


if __name__ == "__main__":
    raise SystemExit(main())
