"""docker-compose.yml and the Dockerfile kept honest without a container engine: every apiserver command
parses with the real command-line parser, ports are published on 127.0.0.1 only, the healthchecks are one
installed executable, and the topology is sound.

`.ci/run` also validates the file with `docker-compose config -q`; tests/test_compose_e2e.py builds and runs it
(podman), and tests/test_replicas.py runs the same topology (etcd plus two replicas) as local processes.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from apiserver import probe, secure_serving
from apiserver.cli import config_from, parser
from apiserver.controllers.__main__ import parser as controllers_parser
from apiserver.testing import free_port, run_server

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
STAGES = {match[2]: match[0] for match in re.finditer(r"^FROM (\S+) AS (\S+)\n(?:(?!FROM ).*\n?)*", DOCKERFILE,
                                                       re.MULTILINE)}
HEALTHCHECK_PORT = urlsplit(probe.READYZ).port
APISERVERS = sorted(name for name, service in SERVICES.items()
                    if service.get("build", {}).get("target") == "apiserver")


def parse(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    """The namespace `slice-apiserver argv` would run with; fails the test with argparse's message."""
    try:
        return parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"slice-apiserver rejects {argv}: {capsys.readouterr().err}")


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each port mapping, which must name all three."""
    mappings = []
    for port in service.get("ports", []):
        match = re.fullmatch(r"([^:]+):(\d+):(\d+)", str(port))
        assert match, f"port {port!r} does not name its host address"
        mappings.append((match[1], int(match[2]), int(match[3])))
    return mappings


def test_two_apiserver_replicas_are_defined() -> None:
    assert len(APISERVERS) >= 2


@pytest.mark.parametrize("name", APISERVERS)
def test_apiserver_command_parses_and_points_at_etcd(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    service = SERVICES[name]
    args = parse(service["command"], capsys)
    assert args.command is None  # serve, not a subcommand
    assert args.bind_address == "0.0.0.0"  # reachable through the published port
    secure_serving.check(config_from(args))  # plain HTTP beyond loopback, allowed explicitly (published on loopback)
    assert args.kubeconfig == ""  # nothing to write inside the container
    assert args.storage == "etcd"
    servers = [url.strip() for url in args.etcd_servers.split(",")]
    assert servers and all(re.fullmatch(r"http://etcd:2379", url) for url in servers)
    assert service["depends_on"]["etcd"]["condition"] == "service_healthy"
    assert [container for _, _, container in published(service)] == [args.port]
    assert args.port == HEALTHCHECK_PORT  # the image's HEALTHCHECK probes this port


def test_ports_are_published_on_loopback_only_and_do_not_collide() -> None:
    host_ports = []
    for name, service in SERVICES.items():
        for host, host_port, _ in published(service):
            assert host == "127.0.0.1", f"{name} publishes a port beyond loopback"
            host_ports.append(host_port)
    assert len(host_ports) == len(set(host_ports))


def arg_default(name: str) -> str:
    """The Dockerfile's default for build argument `name`, which docker-compose.yml's must repeat."""
    default = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.MULTILINE)[1]  # type: ignore[index]
    for service in SERVICES.values():
        if "build" in service:
            assert service["build"]["args"][name] == f"${{{name}:-{default}}}"  # replaceable, same default
    return default


def healthcheck(stage: str) -> list[str] | None:
    """The exec-form HEALTHCHECK command of a Dockerfile stage, if it has one."""
    match = re.search(r"^HEALTHCHECK .* CMD (\[.*\])$", STAGES[stage], re.MULTILINE)
    return json.loads(match[1]) if match else None


def test_images_build_on_replaceable_sources() -> None:
    assert arg_default("PYTHON_IMAGE") == "python:3.11-slim"
    assert re.fullmatch(r"(quay\.io/coreos|gcr\.io/etcd-development)/etcd:v3\.[56]\.\d+", arg_default("ETCD_IMAGE"))
    assert "FROM ${ETCD_IMAGE} AS etcd-release" in DOCKERFILE and "FROM ${PYTHON_IMAGE} AS python" in DOCKERFILE


def test_healthchecks_are_one_installed_executable_without_spaces() -> None:
    """Podman's Docker-compatible API splits exec-form arguments at spaces, and etcd's release image has no shell
    (and etcdctl is not in Debian's etcd-server): every check runs the package's own probe."""
    assert PYPROJECT["project"]["scripts"]["slice-apiserver-probe"] == "apiserver.probe:main"
    assert healthcheck("apiserver") == ["slice-apiserver-probe"]  # its default URL: /readyz on port 8080
    assert healthcheck("etcd") == ["slice-apiserver-probe", "http://127.0.0.1:2379/health"]
    assert not any("healthcheck" in service for service in SERVICES.values())  # the images' own checks
    assert DOCKERFILE.count("HEALTHCHECK ") == 2


def test_etcd_runs_the_release_binary_on_its_volume_with_a_healthcheck() -> None:
    etcd = SERVICES["etcd"]
    assert etcd["build"]["target"] == "etcd"
    assert "COPY --from=etcd-release /usr/local/bin/etcd /usr/local/bin/etcd" in STAGES["etcd"]
    assert '--data-dir=/etcd-data' in etcd["command"] and etcd["volumes"] == ["etcd-data:/etcd-data"]
    for name in APISERVERS:
        assert SERVICES[name]["depends_on"]["etcd"]["condition"] == "service_healthy"


def test_python_services_stop_on_sigint() -> None:
    """Python as PID 1 has no SIGTERM handler, so the kernel drops it; SIGINT raises KeyboardInterrupt."""
    for name in [*APISERVERS, "controllers"]:
        assert SERVICES[name]["stop_signal"] == "SIGINT"


def test_package_data_covers_every_data_file() -> None:
    """The images install the package (not the checkout): a data file outside package-data is missing there."""
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["apiserver"]
    tracked = subprocess.run(["git", "ls-files", "apiserver"], cwd=ROOT, capture_output=True, text=True, check=True)
    data = [Path(path).relative_to("apiserver") for path in tracked.stdout.split() if not path.endswith(".py")]
    assert data and all(any(path.match(glob) for glob in globs) for path in data), data


def test_load_profile_runs_the_controllers_and_the_locustfile() -> None:
    load = {name: service for name, service in SERVICES.items() if "load" in service.get("profiles", [])}
    controllers = load.pop("controllers")
    assert controllers["entrypoint"] == ["python", "-m", "apiserver.controllers"]
    args = controllers_parser().parse_args(controllers["command"])
    assert args.server in {f"http://{name}:8080" for name in APISERVERS}
    assert {"--master", "--worker"} <= {arg for service in load.values() for arg in service["command"]}
    for service in [controllers, *load.values()]:
        assert set(service["depends_on"]) <= set(APISERVERS)
    for service in load.values():
        assert service["command"][:3] == ["locust", "-f", "/app/loadtest/locustfile.py"]
    assert (ROOT / "loadtest" / "locustfile.py").is_file()  # the image copies loadtest/ to /app/loadtest


def test_dockerfile_default_command_parses(capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "Dockerfile").read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", final_stage, re.MULTILINE).group(1))  # type: ignore[union-attr]
    command = json.loads(re.search(r"^CMD (\[.*\])$", final_stage, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert entrypoint == ["slice-apiserver"]
    args = parse(command, capsys)
    assert args.bind_address == "0.0.0.0" and args.port == HEALTHCHECK_PORT
    secure_serving.check(config_from(args))
    assert text.startswith("#") and final_stage.startswith("base AS apiserver\n")


def test_probe_passes_on_a_ready_server_and_fails_where_nothing_answers() -> None:
    with run_server() as server:
        probe.main([f"{server.url}/readyz"])  # returns: exit status 0
        with pytest.raises(SystemExit, match="HTTP Error 404"):
            probe.main([f"{server.url}/no-such-path"])
    with pytest.raises(SystemExit, match="Connection refused"):
        probe.main([f"http://127.0.0.1:{free_port()}/readyz"])
