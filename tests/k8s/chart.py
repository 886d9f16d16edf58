"""Rendering the chart with the pinned helm (scripts/install-k8s-tools links it into .venv/bin) and
picking objects out of the result, for the chart tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from functools import cache
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
SIMULATORS = ("clock", "foot-traffic", "shelf", "redis-kafka-bridge", "pos", "register", "ledger", "truth")
# The simulators with a dashboard of their own (chart/dashboards/generate.py says why the truth has none).
DASHBOARDED = tuple(c for c in SIMULATORS if c != "truth")
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
