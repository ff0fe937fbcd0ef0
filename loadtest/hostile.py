"""Hostile requests: the corpus, and what the worst of them costs the server.

    python -m loadtest.hostile [--only NAME] [--server-args '...']

`CORPUS` is a list of requests an attacker on the loopback might send (amplification by JSON-patch
copies and YAML aliases, nesting past every recursion limit, integers of thousands of digits, invalid
DeleteOptions), each with the Status kube-apiserver v1.32.13 answers, or where it answers in a way no
server should (a 61 MB 422 for 1 MB of YAML, a crash on deep YAML) the Status this server answers
instead. `tests/test_hostile.py` replays it and checks each Status, that /readyz still answers and that
nothing stored changed.

Run as a command, it starts the server as a subprocess, creates the objects the corpus works on, and
sends each request while a probe GETs /readyz every 10 ms: the slowest probe answer is how long the
event loop was blocked, and the rise of the server's peak RSS (VmHWM, reset through /proc/PID/clear_refs
before each request) what the request cost in memory. It prints one line per request, the worst, the
same numbers for a plain GET as a baseline, and the invariant: at most 100 ms blocked, 64 MB per request.
`NEAR_LIMITS` adds the costliest requests the caps let through. `RAW` are requests on a bare socket (headers
past Go's 1 MiB, bodies that never end, connections that never finish their headers), each with the start of
kube-apiserver's answer; the command runs those answered within the request timeout (it starts the server
with --request-timeout=2s).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import aiohttp
import uvloop

from apiserver.testing import free_port

NAMESPACE = "default"
SLICES = f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices"
SERVICES = f"/api/v1/namespaces/{NAMESPACE}/services"
SLICE_NAME = "target"
SLICE = SLICES + "/" + SLICE_NAME
REJECTED = "the server rejected our request due to an error in our request"
BLOCK_LIMIT_MS = 100.0
RSS_LIMIT_MB = 64.0
PROBE_EVERY = 0.01


@dataclass(frozen=True)
class Hostile:
    """One hostile request and the Status it must get (the whole message)."""

    name: str
    method: str
    path: str
    body: bytes | None
    content_type: str
    code: int
    reason: str
    message: str


def target_slice() -> dict[str, object]:
    """The EndpointSlice every patch and delete of the corpus aims at."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": SLICE_NAME, "labels": {"app": "web"}, "annotations": {"note": "keep"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]}


def nested_json(depth: int, leaf: str = '"x"', key: str = "a") -> str:
    """`{"a":{"a":…leaf…}}`, `depth` objects deep, built as text (no recursion)."""
    return f'{{"{key}":' * depth + leaf + "}" * depth


def _summary(body: bytes) -> str:
    """upstream's summarizeData of a YAML body: its first 30 bytes in hex."""
    return body[:30].hex() + " ..."


def _unrecognized(kind: str, error: str, body: bytes) -> str:
    return f"the object provided is unrecognized (must be of type {kind}): {error} ({_summary(body)})"


def _copy_bomb(copies: int) -> bytes:
    ops: list[dict[str, object]] = [{"op": "add", "path": "/metadata/annotations", "value": {"k": "x" * 65536}}]
    ops += [{"op": "copy", "from": "/metadata/annotations", "path": f"/metadata/annotations/c{i}"}
            for i in range(copies)]
    return json.dumps(ops).encode()


def _alias_bomb(size: int, references: int) -> bytes:
    labels = "".join(f"    l{i}: *a\n" for i in range(references))
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: alias\n  annotations:\n    x: &a {'a' * size}\n"
            f"  labels:\n{labels}spec:\n  ports:\n  - port: 80\n").encode()


def _laughs(levels: int = 9, width: int = 10) -> bytes:
    lines = ["apiVersion: v1", "kind: Service", "metadata:", "  name: laughs", "spec:", "  ports:", "  - port: 80",
             "zz:", "  l0: &l0 [" + ",".join(['"lol"'] * width) + "]"]
    lines += [f"  l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


def _deep_yaml(depth: int) -> bytes:
    return (b"apiVersion: v1\nkind: Service\nmetadata:\n  name: deep\nzz: " + b"[" * depth + b"]" * depth + b"\n")


def _managed(operation: str, depth: int) -> bytes:
    entry = ('{"manager":"m","operation":"' + operation + '","apiVersion":"discovery.k8s.io/v1",'
             '"fieldsType":"FieldsV1","fieldsV1":' + nested_json(depth, "{}", "f:a") + "}")
    return ('{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"' + SLICE_NAME +
            '","managedFields":[' + entry + ']},"addressType":"IPv4","endpoints":[]}').encode()


def _deep_token(depth: int) -> str:
    return base64.urlsafe_b64encode(b"[" * depth + b"]" * depth).rstrip(b"=").decode()


def _big_port_json(digits: int) -> bytes:
    return b'{"apiVersion":"v1","kind":"Service","metadata":{"name":"big"},"spec":{"ports":[{"port":' + \
        b"9" * digits + b"}]}}"


def _big_port_yaml(digits: int) -> bytes:
    return b"apiVersion: v1\nkind: Service\nmetadata:\n  name: big\nspec:\n  ports:\n  - port: " + b"9" * digits + b"\n"


_DEPTH = "invalid character '{' exceeded max depth"
_PORT = 'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal {} into Go struct field ' \
        "ServicePort.spec.ports.port of type int32"
_DELETE = 'DeleteOptions.meta.k8s.io "" is invalid: '
_UID = (f'Operation cannot be fulfilled on EndpointSlice.discovery.k8s.io "{SLICE_NAME}": the UID in the precondition () '
        "does not match the UID in record ({uid}). The object might have been deleted and then recreated")
_RV = (f'Operation cannot be fulfilled on EndpointSlice.discovery.k8s.io "{SLICE_NAME}": the ResourceVersion in the '
       "precondition () does not match the ResourceVersion in record ({rv}). The object might have been modified")


def _corpus() -> list[Hostile]:
    json_type, yaml_type = "application/json", "application/yaml"
    alias, laughs, deep_yaml, huge_yaml = _alias_bomb(1_000_000, 60), _laughs(), _deep_yaml(20000), _deep_yaml(200_000)
    put_deep = _managed("Update", 900)
    self_alias = b"apiVersion: v1\nkind: Service\nmetadata:\n  name: selfref\nspec: &a\n  x: *a\n"
    return [
        # amplification
        Hostile("json-patch-copy-bomb", "PATCH", SLICE, _copy_bomb(6), "application/json-patch+json",
                422, "Invalid", REJECTED),
        Hostile("yaml-alias-60x1MB", "POST", SERVICES, alias, yaml_type, 400, "BadRequest",
                _unrecognized("Service", "yaml: document contains excessive aliasing", alias)),
        Hostile("yaml-billion-laughs", "POST", SERVICES, laughs, yaml_type, 400, "BadRequest",
                _unrecognized("Service", "yaml: document contains excessive aliasing", laughs)),
        Hostile("yaml-billion-laughs-apply", "PATCH", SLICE + "?fieldManager=m", laughs,
                "application/apply-patch+yaml", 400, "BadRequest",
                "error decoding YAML: error converting YAML to JSON: yaml: document contains excessive aliasing"),
        Hostile("yaml-self-alias", "POST", SERVICES, self_alias, yaml_type, 400, "BadRequest",
                _unrecognized("Service", "yaml: anchor 'a' value contains itself", self_alias)),
        # nesting
        Hostile("merge-patch-1000-deep", "PATCH", SLICE, ('{"unknown":' + nested_json(1000) + "}").encode(),
                "application/merge-patch+json", 400, "BadRequest", "error decoding patch: " + _DEPTH),
        Hostile("strategic-patch-900-deep", "PATCH", SLICE, ('{"metadata":{"labels":' + nested_json(900) + "}}").encode(),
                "application/strategic-merge-patch+json", 400, "BadRequest", _DEPTH),
        Hostile("apply-fieldsV1-900-deep", "PATCH", SLICE + "?fieldManager=m", _managed("Apply", 900),
                "application/apply-patch+yaml", 400, "BadRequest",
                "error decoding YAML: error converting YAML to JSON: yaml: line 1: exceeded max depth of 100"),
        Hostile("put-fieldsV1-900-deep", "PUT", SLICE, put_deep, json_type, 400, "BadRequest",
                "the object provided is unrecognized (must be of type EndpointSlice): couldn't get version/kind; "
                f"json parse error: {_DEPTH} ({put_deep[:30].decode()} ...)"),
        Hostile("continue-3000-deep", "GET", SLICES + "?limit=1&continue=" + _deep_token(3000), None, json_type,
                400, "BadRequest",
                "invalid continue token: continue key is not valid: invalid character '[' exceeded max depth"),
        Hostile("yaml-20000-deep", "POST", SERVICES, deep_yaml, yaml_type, 400, "BadRequest",
                _unrecognized("Service", "yaml: line 5: exceeded max depth of 100", deep_yaml)),
        Hostile("yaml-200000-deep", "POST", SERVICES, huge_yaml, yaml_type, 400, "BadRequest",
                _unrecognized("Service", "yaml: line 5: exceeded max depth of 100", huge_yaml)),
        # numbers
        Hostile("yaml-port-5000-digits", "POST", SERVICES, _big_port_yaml(5000), yaml_type, 400, "BadRequest",
                _PORT.format("string")),
        Hostile("json-port-5000-digits", "POST", SERVICES, _big_port_json(5000), json_type, 400, "BadRequest",
                _PORT.format("number " + "9" * 5000)),
        # DeleteOptions
        Hostile("delete-propagation-evil", "DELETE", SLICE, b'{"propagationPolicy":"Evil"}', json_type, 422, "Invalid",
                _DELETE + 'propagationPolicy: Unsupported value: "Evil": supported values: "Foreground", '
                '"Background", "Orphan", "nil"'),
        Hostile("delete-dryrun-bogus", "DELETE", SLICE, b'{"dryRun":["Bogus"]}', json_type, 422, "Invalid",
                _DELETE + 'dryRun: Unsupported value: []string{"Bogus"}: supported values: "All"'),
        Hostile("delete-orphan-and-propagation", "DELETE", SLICE,
                b'{"orphanDependents":true,"propagationPolicy":"Orphan"}', json_type, 422, "Invalid",
                _DELETE + 'propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation '
                "cannot be both set"),
        Hostile("delete-precondition-empty-uid", "DELETE", SLICE, b'{"preconditions":{"uid":""}}', json_type,
                409, "Conflict", _UID),
        Hostile("delete-precondition-empty-rv", "DELETE", SLICE, b'{"preconditions":{"resourceVersion":""}}',
                json_type, 409, "Conflict", _RV),
        Hostile("create-field-manager-too-long", "POST", SLICES + "?fieldManager=" + "m" * 200,
                json.dumps(target_slice()).encode(), json_type, 422, "Invalid",
                'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes'),
        Hostile("patch-field-validation-bogus", "PATCH", SLICE + "?fieldValidation=Bogus", b"{}",
                "application/merge-patch+json", 422, "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": supported '
                'values: "", "Ignore", "Strict", "Warn"'),
    ]


CORPUS = _corpus()

# Just under the caps: accepted by the decoder, refused by validation with answers as large as upstream's
# (they echo the value): the costliest requests that get through. Their whole message is not checked.
NEAR_LIMITS = [
    Hostile("json-patch-copies-under-cap", "PATCH", SLICE, _copy_bomb(5), "application/json-patch+json",
            422, "Invalid", ""),
    Hostile("yaml-alias-2x1MB", "POST", SERVICES, _alias_bomb(1_000_000, 2), "application/yaml",
            422, "Invalid", ""),
]


@dataclass(frozen=True)
class RawHostile:
    """A hostile request sent on a bare socket, and how kube-apiserver's answer starts (b"": it closes the
    connection without one, after its header-read timeout)."""

    name: str
    data: bytes
    answer: bytes


OK, TOO_LARGE, TIMED_OUT = b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 431 Request Header Fields Too Large\r\n", \
    b"HTTP/1.1 504 Gateway Timeout\r\n"


def _get(path: str, headers: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode() + headers + b"\r\n"


def _post(framing: bytes, body: bytes) -> bytes:
    return (f"POST {SLICES} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n".encode()
            + framing + b"\r\n" + body)


RAW = [
    RawHostile("label-selector-800-terms", _get(SLICES + "?labelSelector=" + ",".join(f"k{i}=v{i}" for i in range(800))),
               OK),
    RawHostile("header-1MB", _get("/readyz", b"X-Big: " + b"a" * 1_048_576 + b"\r\n"), OK),
    RawHostile("headers-20000", _get("/readyz", b"".join(b"X-H%d: v\r\n" % i for i in range(20000))), OK),
    RawHostile("header-1.1MB", _get("/readyz", b"X-Big: " + b"a" * 1_100_000 + b"\r\n"), TOO_LARGE),
    RawHostile("headers-1100x1KB", _get("/readyz", b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(1100))),
               TOO_LARGE),
    RawHostile("body-shorter-than-content-length", _post(b"Content-Length: 1000\r\n", b'{"apiVersion"'), TIMED_OUT),
    RawHostile("chunked-body-never-ends", _post(b"Transfer-Encoding: chunked\r\n", b'5\r\n{"api\r\n'), TIMED_OUT),
    RawHostile("idle-connection", b"", b""),
    RawHostile("header-trickle", b"GET /readyz HTTP/1.1\r\nHost: x\r\n", b""),
]


def expected_message(hostile: Hostile, stored: dict[str, object]) -> str:
    """The message, with the target's uid and resourceVersion filled in where a precondition shows them."""
    meta = stored["metadata"]
    assert isinstance(meta, dict)
    return hostile.message.replace("{uid}", str(meta.get("uid"))).replace("{rv}", str(meta.get("resourceVersion")))


# ---------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Cost:
    name: str
    code: int
    answer_bytes: int
    seconds: float
    blocked_ms: float
    rss_mb: float


def _status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for {pid}")


def _reset_peak(pid: int) -> int:
    """Reset the process's VmHWM to its current RSS; return that RSS."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    return _status(pid, "VmRSS")


async def _probe(session: aiohttp.ClientSession, url: str, done: asyncio.Event) -> float:
    """GET /readyz every PROBE_EVERY seconds until `done`: the slowest answer, in ms."""
    worst = 0.0
    while not done.is_set():
        started = time.perf_counter()
        async with session.get(url + "/readyz") as response:
            await response.read()
        worst = max(worst, (time.perf_counter() - started) * 1000)
        await asyncio.sleep(PROBE_EVERY)
    return worst


async def measure(session: aiohttp.ClientSession, url: str, pid: int, name: str, method: str, path: str,
                  body: bytes | None, content_type: str) -> Cost:
    """One request's cost: its answer, the slowest /readyz meanwhile, the rise of the server's peak RSS."""
    before = _reset_peak(pid)
    done = asyncio.Event()
    async with aiohttp.ClientSession() as probe_session:
        probe = asyncio.create_task(_probe(probe_session, url, done))
        await asyncio.sleep(2 * PROBE_EVERY)
        started = time.perf_counter()
        async with session.request(method, url + path, data=body, headers={"Content-Type": content_type}) as response:
            answer = await response.read()
            code = response.status
        seconds = time.perf_counter() - started
        await asyncio.sleep(2 * PROBE_EVERY)
        done.set()
        blocked = await probe
    peak = _status(pid, "VmHWM")
    return Cost(name, code, len(answer), seconds, blocked, max(0, peak - before) / 1e6)


async def send_raw(url: str, data: bytes) -> bytes:
    """Send `data` on a fresh connection; everything received until the server closes it."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        return await reader.read()
    finally:
        writer.close()


async def measure_raw(url: str, pid: int, hostile: RawHostile) -> Cost:
    """measure() for a request on a bare socket."""
    before = _reset_peak(pid)
    done = asyncio.Event()
    async with aiohttp.ClientSession() as probe_session:
        probe = asyncio.create_task(_probe(probe_session, url, done))
        await asyncio.sleep(2 * PROBE_EVERY)
        started = time.perf_counter()
        answer = await send_raw(url, hostile.data)
        seconds = time.perf_counter() - started
        await asyncio.sleep(2 * PROBE_EVERY)
        done.set()
        blocked = await probe
    code = int(answer.split(b" ", 2)[1]) if answer else 0
    return Cost(hostile.name, code, len(answer), seconds, blocked, max(0, _status(pid, "VmHWM") - before) / 1e6)


async def ensure_target(session: aiohttp.ClientSession, url: str) -> None:
    async with session.get(url + SLICE) as response:
        if response.status == 200:
            return
    async with session.post(url + SLICES, json=target_slice()) as response:
        assert response.status == 201, await response.text()


async def run(url: str, pid: int, only: str) -> int:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url + "/readyz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        await ensure_target(session, url)
        baseline = await measure(session, url, pid, "baseline GET", "GET", SLICE, None, "")
        costs = []
        for hostile in CORPUS + NEAR_LIMITS:
            if only and only not in hostile.name:
                continue
            await ensure_target(session, url)
            costs.append(await measure(session, url, pid, hostile.name, hostile.method, hostile.path,
                                       hostile.body, hostile.content_type))
        for raw in RAW:
            if raw.answer and (not only or only in raw.name):  # unanswered ones take the 32 s header timeout
                costs.append(await measure_raw(url, pid, raw))
    print(f"{'request':34} {'code':>4} {'answer B':>9} {'took ms':>8} {'blocked ms':>10} {'RSS +MB':>8}")
    for cost in [baseline, *costs]:
        print(f"{cost.name:34} {cost.code:4} {cost.answer_bytes:9} {cost.seconds * 1000:8.1f} "
              f"{cost.blocked_ms:10.1f} {cost.rss_mb:8.1f}")
    if not costs:
        return 0
    slowest = max(costs, key=lambda cost: cost.blocked_ms)
    hungriest = max(costs, key=lambda cost: cost.rss_mb)
    print(f"worst block: {slowest.blocked_ms:.1f} ms ({slowest.name}; "
          f"{slowest.blocked_ms / max(baseline.blocked_ms, 0.1):.1f}x the baseline GET's {baseline.blocked_ms:.1f} ms; "
          f"limit {BLOCK_LIMIT_MS:.0f} ms)")
    print(f"worst RSS rise: {hungriest.rss_mb:.1f} MB ({hungriest.name}; baseline GET {baseline.rss_mb:.1f} MB; "
          f"limit {RSS_LIMIT_MB:.0f} MB)")
    ok = slowest.blocked_ms <= BLOCK_LIMIT_MS and hungriest.rss_mb <= RSS_LIMIT_MB
    print("invariant holds" if ok else "INVARIANT BROKEN")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="only the requests whose name contains this")
    parser.add_argument("--server-args", default="", help="extra flags for the server")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([sys.executable, "-m", "apiserver", "--port", str(port), "--kubeconfig", "",
                                    "--request-timeout=2s", *shlex.split(args.server_args)], stdout=subprocess.DEVNULL, stderr=log)
        try:
            code = uvloop.run(run(f"http://127.0.0.1:{port}", process.pid, args.only))
        finally:
            process.terminate()
            process.wait(10)
    sys.exit(code)


if __name__ == "__main__":
    main()
