"""Rendering the chart with the pinned helm (scripts/install-k8s-tools links it into .venv/bin) and
picking objects out of the result, for the chart tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from storesim.operator import controller_rules as operator_rules

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE = "demo"
NAMESPACE = "retail"
MONITORING_API = "monitoring.coreos.com/v1"
SIMULATORS = ("clock", "foot-traffic", "shelf", "redis-kafka-bridge", "pos", "register", "ledger")
INFRASTRUCTURE = ("kafka", "schema-registry", "redis", "postgres")
# The Store operator's controller (operator.enabled), and where the simulators find its ConfigMap.
CONTROLLER = "controller"
STORES_MOUNT = "/etc/storesim/stores"
STORES_FILE = f"{STORES_MOUNT}/stores.json"


def controller_rules(fullname: str) -> list[dict[str, Any]]:
    """The controller's Role (storesim.operator.controller_rules, the one copy) for a release whose full
    name is `fullname`: what the chart's storesim.controllerRules must render."""
    return operator_rules(f"{fullname}-stores", f"{fullname}-controller")


def tool(name: str) -> str:
    """A pinned tool beside this venv's python; installed by ./scripts/install."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{path} is missing: run ./scripts/install"
    return str(path)


def run(argv: Sequence[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False, timeout=300)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return run([tool("helm"), *args])


def helm_on(kubeconfig: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """helm against a cluster (tests/integration), its own configuration, cache and data under `home`."""
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(kubeconfig),
    }
    argv = [tool("helm"), *args, "--kubeconfig", str(kubeconfig)]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300)


def template_args(
    values: Sequence[Path] = (), sets: Sequence[str] = (), monitoring: bool = True
) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    if monitoring:
        args += ["--api-versions", MONITORING_API]
    for path in values:
        args += ["--values", str(path)]
    for assignment in sets:
        args += ["--set", assignment]
    return args


@cache
def render(values: tuple[Path, ...] = (), sets: tuple[str, ...] = (), monitoring: bool = True) -> list[Any]:
    """Every object `helm template` renders (hooks and tests included)."""
    result = helm(*template_args(values, sets, monitoring))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# What helm asks an API server for its capabilities: a v1 server with no API groups.
_DISCOVERY = {
    "/version": {"major": "1", "minor": "34", "gitVersion": "v1.34.10"},
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
}


class _DiscoveryHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = _DISCOVERY.get(self.path.split("?", 1)[0])
        data = json.dumps(body or {"kind": "Status", "code": 404}).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: helm's requests are not the test's output."""


@contextmanager
def _discovery_kubeconfig(directory: Path) -> Iterator[Path]:
    """A kubeconfig naming a local server that answers only discovery (listening once constructed)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DiscoveryHandler)
    thread = threading.Thread(target=server.serve_forever, name="discovery", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": url}}],
                "users": [{"name": "fake", "user": {}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                "current-context": "fake",
            }
        )
    )
    try:
        yield kubeconfig
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Release:
    revision: int
    objects: list[Any]  # the manifest helm applies
    hooks: list[Any]  # each {name, kind, path, manifest, events, ...}, as helm stores it


@cache
def render_upgrade(deployed: int, sets: tuple[str, ...] = ()) -> Release:
    """What `helm upgrade` renders over a deployed release at revision `deployed`, with nothing to reach:
    helm's memory storage driver holds that release (HELM_MEMORY_DRIVER_DATA, which also gives helm a kube
    client that applies nothing), `--dry-run` renders, and only discovery comes from a local server.
    `helm template` cannot: it always renders revision 1."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        releases = home / "releases.json"
        chart = {"metadata": {"name": "storesim", "version": "0.1.0"}}
        deployed_release = {"name": RELEASE, "namespace": NAMESPACE, "version": deployed, "chart": chart}
        releases.write_text(json.dumps([{**deployed_release, "info": {"status": "deployed"}}]))
        with _discovery_kubeconfig(home) as kubeconfig:
            env = {
                **os.environ,
                "HELM_DRIVER": "memory",
                "HELM_MEMORY_DRIVER_DATA": str(releases),
                "HELM_CONFIG_HOME": str(home / "config"),
                "HELM_CACHE_HOME": str(home / "cache"),
                "HELM_DATA_HOME": str(home / "data"),
                "KUBECONFIG": str(kubeconfig),
            }
            argv = [tool("helm"), "upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run"]
            argv += [arg for assignment in sets for arg in ("--set", assignment)]
            result = subprocess.run(
                [*argv, "--output", "json"],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
    assert result.returncode == 0, result.stderr
    release = json.loads(result.stdout)
    objects = [doc for doc in yaml.safe_load_all(release["manifest"]) if doc]
    return Release(int(release["version"]), objects, release.get("hooks", []))


def of_kind(objects: list[Any], kind: str) -> list[Any]:
    return [o for o in objects if o["kind"] == kind]


def component_of(o: Any) -> str:
    return str(o["metadata"]["labels"]["app.kubernetes.io/component"])


def pod_specs(objects: list[Any]) -> Iterator[tuple[Any, Any]]:
    """(object, pod spec) of every workload, Job and bare Pod."""
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield o, o["spec"]["template"]["spec"]
        elif o["kind"] == "Pod":
            yield o, o["spec"]


def workload(objects: list[Any], component: str) -> Any:
    kinds = {"Deployment", "StatefulSet"}
    matches = [o for o in objects if o["kind"] in kinds and component_of(o) == component]
    assert len(matches) == 1, f"{len(matches)} workloads of component {component}"
    return matches[0]


def env_of(container: Any) -> dict[str, Any]:
    """name → value, or → the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
