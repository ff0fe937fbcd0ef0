"""docker-compose for real: our Dockerfile and docker-compose.yml built and run by Debian's docker-compose through
podman's Docker-compatible socket, on base images made locally (scripts/build-local-images: no registry needed),
then used the way the README says: kubectl 1.32 on both published replicas, a watch across replicas, the `load`
profile's controllers and Locust, restarts, and `down -v`.

Podman without systemd never schedules healthchecks, so the stack's own checks (the images' HEALTHCHECK) are run
here with `podman healthcheck run` while docker-compose waits on `service_healthy`: readiness is the services'
real readiness. The tests run in file order on one stack.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import KUBECTL_VERSION, kubectl_binary

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = Path(__file__).parent / "manifests"
PROJECT = "slice-e2e"
REPLICAS = {"apiserver-1": "http://127.0.0.1:8080", "apiserver-2": "http://127.0.0.1:8081"}
PUBLISHED = [8080, 8081, 2379, 8089]  # docker-compose.yml's host ports, all on 127.0.0.1
TOOLS = ["podman", "runc", "docker-compose", "debootstrap"]
CONTAINERS_CONF = """\
[containers]
default_ulimits = []  # podman's defaults fail setrlimit in a container without CAP_SYS_RESOURCE to spare
[engine]
runtime = "runc"      # crun fails on hybrid cgroups
"""
TIMEOUT = 300  # seconds for any one wait on the stack

missing = [tool for tool in TOOLS if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.skipif(bool(missing), reason=f"no container runtime: {', '.join(missing)} missing "
                       "(scripts/install-podman installs them from Debian's packages; .ci/run does)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="podman's bridge networks and debootstrap need root"),
    pytest.mark.skipif(kubectl_binary() is None, reason=f"kubectl {KUBECTL_VERSION} is not installed"),
]


@dataclass
class Stack:
    """The compose project on a podman service of its own; every command's output is kept for failures."""

    env: dict[str, str]
    directory: Path
    log: list[str] = field(default_factory=list)

    def run(self, *command: str, check: bool = True, timeout: float = TIMEOUT) -> str:
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        self.log.append(f"$ {' '.join(command)} -> {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
        if check and done.returncode != 0:
            raise AssertionError(self.log[-1])
        return done.stdout

    def compose(self, *args: str, load: bool = False) -> str:
        """docker-compose, with the `load` profile's services too when `load`."""
        return self.run("docker-compose", *(["--profile", "load"] if load else []), *args)

    def podman(self, *args: str, check: bool = True) -> str:
        return self.run("podman", "--runtime", "runc", *args, check=check)

    def containers(self, *filters: str, all_: bool = False) -> list[str]:
        """IDs of the project's containers matching podman `--filter`s."""
        args = ["ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"]
        args += [arg for f in filters for arg in ("--filter", f)]
        return self.podman(*args, *(["-a"] if all_ else [])).split()

    def container(self, service: str) -> str:
        ids = self.containers(f"label=com.docker.compose.service={service}", all_=True)
        assert len(ids) == 1, f"{service}: {ids}"
        return ids[0]

    def check_health(self) -> bool:
        """Run the healthcheck of every container still starting (or failing); True when none is left."""
        pending = self.containers("health=starting") + self.containers("health=unhealthy")
        for container in pending:
            self.podman("healthcheck", "run", container, check=False)
        return not pending

    def up(self, load: bool = False, extra: dict[str, str] | None = None) -> None:
        """`docker-compose up -d` while running the healthchecks it waits on, then until all are healthy."""
        command = ["docker-compose", *(["--profile", "load"] if load else []), "up", "-d"]
        up = subprocess.Popen(command, cwd=ROOT, env={**self.env, **(extra or {})}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + TIMEOUT
        while not (self.check_health() and up.poll() is not None):
            assert time.monotonic() < deadline, f"{command} or the healthchecks did not finish:\n" + self.logs()
            time.sleep(0.2)
        output = up.stdout.read() if up.stdout else ""
        self.log.append(f"$ {' '.join(command)} -> {up.returncode}\n{output}")
        assert up.returncode == 0, self.log[-1]

    def ready(self, url: str) -> None:
        """Wait until `url`/readyz answers 200 (the healthchecks driven meanwhile)."""
        deadline = time.monotonic() + TIMEOUT
        while not self.check_health() or get(f"{url}/readyz")[0] != 200:
            assert time.monotonic() < deadline, f"{url} is not ready:\n" + self.logs()
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(self.log[-6:]) + self.run("docker-compose", "--profile", "load", "logs", "--no-color",
                                                   "--tail", "30", check=False)


def get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError as err:
        return 0, str(err)


def local_images() -> dict[str, str]:
    """PYTHON_IMAGE and ETCD_IMAGE from scripts/build-local-images (made once, then kept by podman)."""
    done = subprocess.run([str(ROOT / "scripts" / "build-local-images")], capture_output=True, text=True,
                          timeout=1200, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    exported = done.stdout.strip().removeprefix("export ").split()
    return dict(item.split("=", 1) for item in exported)


def check_ports_free() -> None:
    for port in PUBLISHED:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                pytest.fail(f"127.0.0.1:{port} is in use: docker-compose.yml publishes it (stop what listens there)")


def podman_service(directory: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """podman's Docker-compatible API on a socket of its own, with a containers.conf of its own (the
    machine's is left alone); the environment that points docker-compose and podman at them."""
    conf = directory / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    sock = directory / "podman.sock"
    env = {**os.environ, "CONTAINERS_CONF": str(conf), "DOCKER_HOST": f"unix://{sock}",
           "COMPOSE_PROJECT_NAME": PROJECT}
    with open(directory / "podman-service.log", "wb") as log:
        service = subprocess.Popen(["podman", "--runtime", "runc", "system", "service", "--time=0", f"unix://{sock}"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(sock))
            return service, env
        except OSError:
            failed = service.poll() is not None or time.monotonic() > deadline
            assert not failed, (directory / "podman-service.log").read_text()
            time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("compose")
    images = local_images()
    service, env = podman_service(directory)
    stack = Stack({**env, **images}, directory)
    try:
        stack.compose("down", "-v", load=True)  # whatever an interrupted run left
        check_ports_free()
        stack.compose("build", load=True)
        stack.up()
        yield stack
    finally:
        stack.run("docker-compose", "--profile", "load", "down", "-v", check=False)
        # the images a rebuild replaced (the Dockerfile labels ours); the current ones stay as the build cache
        stack.podman("image", "prune", "-f", "--filter", "label=org.opencontainers.image.title=slice-apiserver",
                     check=False)
        service.terminate()
        service.wait(30)


def kubectl(stack: Stack, url: str, *args: str) -> str:
    """kubectl 1.32 with the kubeconfig `slice-apiserver kubeconfig` writes, as the README shows."""
    name = url.rsplit(":", 1)[1]
    config = stack.directory / f"{name}.kubeconfig"
    if not config.exists():
        stack.run("python3", "-m", "apiserver", "kubeconfig", "--server", url, "-o", str(config))
    binary = kubectl_binary()
    assert binary is not None
    return stack.run(binary, "--kubeconfig", str(config), "--cache-dir", str(stack.directory / f"cache-{name}"),
                     *args, timeout=60)


def slice_names(stack: Stack, url: str) -> set[str]:
    listed = json.loads(kubectl(stack, url, "get", "endpointslices", "-n", "default", "-o", "json"))
    return {item["metadata"]["name"] for item in listed["items"]}


def test_kubectl_applies_and_gets_endpointslices_through_both_replicas(stack: Stack) -> None:
    for url in REPLICAS.values():
        assert get(f"{url}/readyz") == (200, "ok")
    assert "created" in kubectl(stack, REPLICAS["apiserver-1"], "apply", "-n", "default",
                                "-f", str(MANIFESTS / "slice.yaml"))
    got = json.loads(kubectl(stack, REPLICAS["apiserver-2"], "get", "endpointslice", "web-abc", "-n", "default",
                             "-o", "json"))
    assert [e["addresses"] for e in got["endpoints"]] == [["10.0.0.1"], ["10.0.0.2"]]
    assert "configured" in kubectl(stack, REPLICAS["apiserver-2"], "apply", "-n", "default",
                                   "-f", str(MANIFESTS / "slice-v2.yaml"))
    got = json.loads(kubectl(stack, REPLICAS["apiserver-1"], "get", "endpointslice", "web-abc", "-n", "default",
                             "-o", "json"))
    assert got["metadata"]["labels"]["tier"] == "backend" and got["ports"][0]["port"] == 8080


def test_a_watch_on_replica_2_sees_a_write_through_replica_1(stack: Stack) -> None:
    path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    status, body = get(REPLICAS["apiserver-2"] + path)
    assert status == 200
    since = json.loads(body)["metadata"]["resourceVersion"]
    url = f"{REPLICAS['apiserver-2']}{path}?watch=1&resourceVersion={since}&timeoutSeconds=60"
    with urllib.request.urlopen(url, timeout=60) as watch:
        kubectl(stack, REPLICAS["apiserver-1"], "label", "endpointslice", "web-abc", "-n", "default", "seen=yes")
        for line in watch:
            event = json.loads(line)
            if event["type"] == "MODIFIED" and event["object"]["metadata"]["labels"].get("seen") == "yes":
                break
        else:
            pytest.fail("the watch ended without the write")
    assert event["object"]["metadata"]["name"] == "web-abc"


def test_load_profile_runs_controllers_and_a_headless_locust_with_watch_bytes(stack: Stack) -> None:
    csv_prefix = "/tmp/locust/run"
    stack.up(load=True, extra={"LOCUST_HEADLESS": "true", "LOCUST_USERS": "6", "LOCUST_SPAWN_RATE": "6",
                    "LOCUST_RUN_TIME": "15s", "LOCUST_CSV": csv_prefix})
    master = stack.container("locust-master")
    assert stack.podman("wait", master, check=False).strip() == "0", stack.logs()
    stack.podman("cp", f"{master}:{csv_prefix}_stats.csv", str(stack.directory / "stats.csv"))
    rows = list(csv.DictReader(io.StringIO((stack.directory / "stats.csv").read_text())))
    watch_events = {row["Name"]: row for row in rows if row["Type"] == "WATCH"}
    assert watch_events and set(watch_events) <= {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"}, rows
    assert sum(int(row["Request Count"]) for row in watch_events.values()) > 0
    assert all(float(row["Average Content Size"]) > 0 for row in watch_events.values()), watch_events
    # the controllers turned Locust's pods into EndpointSlices
    assert stack.podman("inspect", "--format", "{{.State.Running}}", stack.container("controllers")).strip() == "true"
    churned = json.loads(kubectl(stack, REPLICAS["apiserver-2"], "get", "endpointslices", "-n", "default",
                                 "-l", "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io",
                                 "-o", "json"))
    assert churned["items"], "no EndpointSlice from the controllers"


@pytest.mark.parametrize("service", ["apiserver-1", "etcd"])
def test_data_survives_a_restart(stack: Stack, service: str) -> None:
    before = slice_names(stack, REPLICAS["apiserver-1"])
    assert "web-abc" in before
    stack.compose("restart", service)
    for url in REPLICAS.values():
        stack.ready(url)
        assert slice_names(stack, url) >= {"web-abc"}
    kubectl(stack, REPLICAS["apiserver-1"], "label", "endpointslice", "web-abc", "-n", "default",
            f"after-{service}=yes")  # and it still takes writes
    got = json.loads(kubectl(stack, REPLICAS["apiserver-2"], "get", "endpointslice", "web-abc", "-n", "default",
                             "-o", "json"))
    assert got["metadata"]["labels"][f"after-{service}"] == "yes"


def test_down_leaves_no_containers_networks_or_volumes(stack: Stack) -> None:
    stack.compose("down", "-v", load=True)
    assert stack.containers(all_=True) == []
    label = f"label=com.docker.compose.project={PROJECT}"
    assert stack.podman("network", "ls", "-q", "--filter", label).split() == []
    assert stack.podman("volume", "ls", "-q", "--filter", label).split() == []
    assert PROJECT not in stack.podman("network", "ls", "--format", "{{.Name}}")
    assert PROJECT not in stack.podman("volume", "ls", "--format", "{{.Name}}")
