"""The Store controller's settings: the chart's variable names, their defaults, and one line naming the
variable when a value (or the lease timings' order) is wrong, also as `storesim run controller` exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storesim.settings import ControllerSettings, SettingsError

STORESIM = Path(sys.executable).with_name("storesim")
VARIABLES = frozenset(name.upper() for name in ControllerSettings.model_fields)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No controller variable from the caller's environment (KUBECONFIG, NAMESPACE, ...) leaks in."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def lease_timings(settings: ControllerSettings) -> tuple[int, int, int]:
    return settings.lease_duration_seconds, settings.renew_deadline_seconds, settings.retry_period_seconds


def test_the_variables_are_the_charts_contract() -> None:
    assert {
        "KUBECONFIG",
        "NAMESPACE",
        "POD_NAME",
        "STORES_CONFIGMAP",
        "STORES_FILE",
        "SCENARIO_FILE",
        "LEASE_NAME",
        "LEASE_DURATION_SECONDS",
        "RENEW_DEADLINE_SECONDS",
        "RETRY_PERIOD_SECONDS",
        "PROMETHEUS_URL",
        "STATUS_INTERVAL_SECONDS",
        "METRICS_PORT",
    } == VARIABLES


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = ControllerSettings.from_env()
    assert settings.kubeconfig is None  # in-cluster
    assert settings.namespace == "default"
    assert settings.stores_configmap == "storesim-stores"
    assert settings.stores_file is None
    assert settings.lease_name == "storesim-controller"
    assert lease_timings(settings) == (15, 10, 2)
    assert settings.prometheus_url is None
    assert settings.status_interval_seconds == 10
    assert settings.metrics_port == 8000
    assert settings.pod_name.endswith(f"-{os.getpid()}"), "unique per process on one host"


def test_values_from_the_environment(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\n")
    for name, value in {
        "KUBECONFIG": str(kubeconfig),
        "NAMESPACE": "shop-1",
        "POD_NAME": "storesim-controller-7d9f-abcde",
        "STORES_FILE": str(tmp_path / "stores.json"),
        "LEASE_DURATION_SECONDS": "4",
        "RENEW_DEADLINE_SECONDS": "3",
        "RETRY_PERIOD_SECONDS": "1",
        "PROMETHEUS_URL": "http://127.0.0.1:19090/",
        "STATUS_INTERVAL_SECONDS": "0.5",
        "METRICS_PORT": "0",
    }.items():
        clean_env.setenv(name, value)
    settings = ControllerSettings.from_env()
    assert settings.kubeconfig == kubeconfig
    assert (settings.namespace, settings.pod_name) == ("shop-1", "storesim-controller-7d9f-abcde")
    assert settings.prometheus_url == "http://127.0.0.1:19090", "a trailing slash would double in the paths"
    assert lease_timings(settings) == (4, 3, 1)
    assert settings.status_interval_seconds == 0.5
    assert settings.metrics_port == 0


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RETRY_PERIOD_SECONDS": "10"}, ("RENEW_DEADLINE_SECONDS", "RETRY_PERIOD_SECONDS")),
        ({"RENEW_DEADLINE_SECONDS": "15"}, ("RENEW_DEADLINE_SECONDS", "LEASE_DURATION_SECONDS")),
        ({"LEASE_DURATION_SECONDS": "5"}, ("RENEW_DEADLINE_SECONDS", "LEASE_DURATION_SECONDS")),
        ({"LEASE_DURATION_SECONDS": "0"}, ("LEASE_DURATION_SECONDS",)),
        ({"RETRY_PERIOD_SECONDS": "1.5"}, ("RETRY_PERIOD_SECONDS",)),
        ({"NAMESPACE": "Not_A_Namespace"}, ("NAMESPACE",)),
        ({"STORES_CONFIGMAP": "stores/json"}, ("STORES_CONFIGMAP",)),
        ({"LEASE_NAME": ""}, ()),  # empty = unset (env_ignore_empty): the default, no error
        ({"PROMETHEUS_URL": "prometheus:9090"}, ("PROMETHEUS_URL",)),
        ({"STATUS_INTERVAL_SECONDS": "0"}, ("STATUS_INTERVAL_SECONDS",)),
        ({"METRICS_PORT": "70000"}, ("METRICS_PORT",)),
        ({"KUBECONFIG": "/nonexistent/kubeconfig"}, ("KUBECONFIG",)),
    ],
)
def test_a_bad_value_is_one_line_naming_it(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], named: tuple[str, ...]
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    if not named:
        ControllerSettings.from_env()
        return
    with pytest.raises(SettingsError) as error:
        ControllerSettings.from_env()
    message = str(error.value)
    assert "\n" not in message
    for name in named:
        assert name in message


def test_the_command_exits_2_with_one_line_naming_the_setting() -> None:
    env = {name: value for name, value in os.environ.items() if name.upper() not in VARIABLES}
    env.update(LEASE_DURATION_SECONDS="4", RENEW_DEADLINE_SECONDS="5", RETRY_PERIOD_SECONDS="1")
    result = subprocess.run(
        [str(STORESIM), "run", "controller"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("storesim: error: ")
    assert "RENEW_DEADLINE_SECONDS" in lines[0]
    assert "LEASE_DURATION_SECONDS" in lines[0]


def test_no_kubeconfig_outside_a_cluster_is_one_line() -> None:
    """KUBECONFIG unset and no ServiceAccount mounted: the in-cluster config cannot load, exit 2."""
    env = {name: value for name, value in os.environ.items() if name.upper() not in VARIABLES}
    env = {k: v for k, v in env.items() if not k.startswith("KUBERNETES_SERVICE_")}
    result = subprocess.run(
        [str(STORESIM), "run", "controller"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "KUBECONFIG" in lines[0]


def test_importing_the_operator_package_leaves_the_kubernetes_client_out() -> None:
    """The CRD is data that the chart's generator and tests import; only the controller needs the client."""
    probe = "import sys, storesim.operator; print('kubernetes' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
