"""Locust users for interactive load: node watchers, endpoint churn and service churn.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8080                  # the web UI on :8089
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --headless -u 60 -r 20 --run-time 1m

Run the controllers beside the server (`python -m apiserver.controllers --server URL`) so pod churn
becomes EndpointSlice and Endpoints writes. Users:

- `NodeWatcher`: kube-proxy's list and watch of EndpointSlices (`--watch-mode endpoints`: Endpoints), in
  `--watch-encoding` json or protobuf (kube-proxy's: length-prefixed frames, each reported from its
  length and WatchEvent type without decoding the object); every event is reported as a WATCH request
  named by its type, with its size in bytes (the payload the server sent for it, as it meters it) and, as
  its "response time", the milliseconds since the previous event on that watch. Watches last
  `--watch-seconds`, then resume from the last resourceVersion seen (a protobuf watch decodes its last
  event for it).
- `EndpointChurn`: owns `--churn-pods` pods of the `--churn-service` Service and, `--churn-rate`
  times a second, flips one pod's readiness or replaces one pod (delete, create a ready one).
- `ServiceChurn`: creates and deletes Services selecting the churned pods, so their controllers
  create slices (and Endpoints) and the server's garbage collector deletes the slices with their Service.

One Locust process parses about 9,000 events/s; the measured tables come from `loadtest.evaluate`.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from typing import Any
from urllib.parse import quote

from locust import HttpUser, between, constant_throughput, events, task
from locust.env import Environment

from apiserver.protobuf import envelope
from loadtest.nodes import KUBE_PROXY_SELECTOR, RESOURCES, USER_AGENT
from loadtest.watchers import ACCEPT, HEAD_BYTES, event_type

NAMESPACE = "default"
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
SERVICES = f"/api/v1/namespaces/{NAMESPACE}/services"
POD_NUMBERS = itertools.count()
SERVICE_NUMBERS = itertools.count()


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _add_arguments(parser: Any) -> None:
    parser.add_argument("--watch-mode", choices=sorted(RESOURCES), default="slices", help="what node watchers watch")
    parser.add_argument("--watch-seconds", type=int, default=300, help="timeoutSeconds of each watch")
    parser.add_argument("--watch-encoding", choices=sorted(ACCEPT), default="json",
                        help="what node watchers ask for (protobuf: as kube-proxy does)")
    parser.add_argument("--churn-service", default="churn", help="Service (and pod label app=) the churn users use")
    parser.add_argument("--churn-pods", type=int, default=10, help="pods each endpoint-churn user keeps")
    parser.add_argument("--churn-rate", type=float, default=2.0, help="pod changes per second per churn user")


def options(environment: Environment) -> Any:
    return environment.parsed_options


def pod_ip(number: int) -> str:
    return f"10.{128 + (number >> 16) % 64}.{(number >> 8) & 255}.{number & 255}"


class NodeWatcher(HttpUser):
    """A simulated kube-proxy: list, then watch, reporting every event with its size."""

    weight = 4
    wait_time = between(0.1, 0.5)

    def on_start(self) -> None:
        self.mode = options(self.environment).watch_mode
        self.protobuf = options(self.environment).watch_encoding == "protobuf"
        self.headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT["protobuf" if self.protobuf else "json"]}
        self.selector = quote(KUBE_PROXY_SELECTOR, safe="")
        response = self.client.get(f"{RESOURCES[self.mode]}?labelSelector={self.selector}&limit=500&resourceVersion=0",
                                   name="list", headers=self.headers)
        listed = envelope.decode(response.content) if self.protobuf else response.json()
        self.rv = listed["metadata"]["resourceVersion"]

    @task
    def watch(self) -> None:
        timeout = options(self.environment).watch_seconds
        url = (f"{RESOURCES[self.mode]}?allowWatchBookmarks=true&labelSelector={self.selector}"
               f"&resourceVersion={self.rv}&timeoutSeconds={timeout}&watch=true")
        response = self.client.get(url, stream=True, name="watch", headers=self.headers)
        try:
            if response.status_code == 410:  # expired: list again
                self.on_start()
                return
            self.last = time.perf_counter()
            if self.protobuf:
                self.read_frames(response.raw)
                return
            for line in response.iter_lines(chunk_size=None):  # type: ignore[call-overload]
                if line:
                    event = json.loads(line)
                    self.rv = event["object"]["metadata"].get("resourceVersion", self.rv)
                    self.report(event["type"], len(line) + 1)
        finally:
            response.close()

    def read_frames(self, raw: Any) -> None:
        """Report each frame of a protobuf watch stream; the resourceVersion from the last one."""
        last = b""
        while (prefix := read_exactly(raw, 4)) is not None:
            frame = read_exactly(raw, int.from_bytes(prefix, "big"))
            if frame is None:
                break
            self.report(event_type(frame[:HEAD_BYTES], protobuf=True), len(prefix) + len(frame))
            last = frame
        if last:
            self.rv = envelope.decode_watch_event(last)[1]["metadata"].get("resourceVersion", self.rv)

    def report(self, kind: str, size: int) -> None:
        now = time.perf_counter()
        self.environment.events.request.fire(request_type="WATCH", name=kind,
                                             response_time=(now - self.last) * 1000, response_length=size,
                                             exception=None, context={})
        self.last = now


def read_exactly(raw: Any, size: int) -> bytes | None:
    """`size` bytes of a streamed response body; None if it ends first."""
    data = b""
    while len(data) < size:
        more = raw.read(size - len(data))
        if not more:
            return None
        data += more
    return data


class EndpointChurn(HttpUser):
    """Keeps a set of ready pods behind a Service and churns them at a set rate."""

    weight = 1

    def wait_time(self) -> float:
        return float(constant_throughput(options(self.environment).churn_rate)(self))

    def on_start(self) -> None:
        opts = options(self.environment)
        self.app = opts.churn_service
        with self.client.post(SERVICES, json=service(self.app, self.app), name="create service",
                              catch_response=True) as response:
            if response.status_code == 409:
                response.success()
        self.pods = [self.create_pod() for _ in range(opts.churn_pods)]

    def create_pod(self) -> str:
        number = next(POD_NUMBERS)
        name = f"{self.app}-{number}-{random.randrange(1 << 30):x}"
        pod = self.client.post(PODS, name="create pod", json={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": self.app}},
            "spec": {"nodeName": f"node-{number % 5000}",
                     "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 8080}]}]}}).json()
        pod["status"] = {"phase": "Running", "podIP": pod_ip(number), "podIPs": [{"ip": pod_ip(number)}],
                         "conditions": [{"type": "Ready", "status": "True"}]}
        self.client.put(f"{PODS}/{name}/status", json=pod, name="pod status")
        return name

    @task(3)
    def flip_readiness(self) -> None:
        name = random.choice(self.pods)
        pod = self.client.get(f"{PODS}/{name}/status", name="get pod").json()
        ready = pod["status"].get("conditions", [{}])[0].get("status") == "True"
        pod["status"]["conditions"] = [{"type": "Ready", "status": "False" if ready else "True"}]
        self.client.put(f"{PODS}/{name}/status", json=pod, name="pod status")

    @task(1)
    def replace_pod(self) -> None:
        slot = random.randrange(len(self.pods))
        self.client.delete(f"{PODS}/{self.pods[slot]}?gracePeriodSeconds=0", name="delete pod")
        self.pods[slot] = self.create_pod()

    def on_stop(self) -> None:
        for name in self.pods:
            self.client.delete(f"{PODS}/{name}?gracePeriodSeconds=0", name="delete pod")


class ServiceChurn(HttpUser):
    """Creates a Service over the churned pods, then deletes it, over and over."""

    weight = 1
    wait_time = between(0.5, 1.5)

    @task
    def create_and_delete(self) -> None:
        name = f"churn-svc-{next(SERVICE_NUMBERS)}"
        self.client.post(SERVICES, json=service(name, options(self.environment).churn_service),
                         name="create service")
        time.sleep(random.uniform(0.2, 1.0))  # gevent-patched: yields to the other users
        self.client.delete(f"{SERVICES}/{name}", name="delete service")


def service(name: str, app: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
