"""Running and watching the Store controller (`storesim run controller`) against the tests' kube-apiserver:
a namespace of one's own, the Store CRD, the controller as a real process, its ConfigMap, file, Lease and
the Stores' status, and a kubeconfig for a ServiceAccount's token (to run it with only its Role's rights).

Every wait polls a condition against a deadline (wait_until); none sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from prometheus_client.parser import text_string_to_metric_families

from storesim.operator import GROUP, PLURAL, SCENARIO_KIND, SCENARIO_PLURAL, VERSION, scenario_crd, store_crd
from storesim.operator import controller_rules as operator_rules
from storesim.settings import ControllerSettings
from tests.integration.helpers import STORESIM, free_port, stop_process, wait_until
from tests.store_spec_cases import GOOD_SPECS

__all__ = [
    "MERGE_PATCH",
    "STORES_CONFIGMAP",
    "ControllerProcess",
    "TcpProxy",
    "admin_client",
    "condition",
    "configmap_text",
    "controller_rules",
    "create_namespace",
    "create_store",
    "install_crd",
    "install_store_crd",
    "kubeconfig_for_token",
    "lease",
    "lease_holder",
    "mint_token",
    "ready_at_generation",
    "scenario_resource",
    "start_controller",
    "store_resource",
    "wait_for_configmap",
    "wait_for_file",
    "wait_for_status",
]

STORES_CONFIGMAP = "storesim-stores"
LEASE_NAME = "storesim-controller"
CRD_NAME = f"{PLURAL}.{GROUP}"
MERGE_PATCH = "application/merge-patch+json"
CONTROLLER_VARIABLES = frozenset(name.upper() for name in ControllerSettings.model_fields)


def controller_rules(configmap: str = STORES_CONFIGMAP, lease_name: str = LEASE_NAME) -> list[dict[str, Any]]:
    """The controller's Role (storesim.operator.controller_rules) for these tests' default names."""
    return operator_rules(configmap, lease_name)


# --- the API server -------------------------------------------------------------------------------------


def admin_client(kubeconfig: Path) -> client.ApiClient:
    """A client with the admin's rights (the `kube` fixture's kubeconfig)."""
    return config.new_client_from_config(config_file=str(kubeconfig))


def create_namespace(admin: client.ApiClient, prefix: str = "test-ctl") -> str:
    """A namespace of the caller's own: the control plane outlives test runs, and a deleted namespace
    stays Terminating (no controller manager)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def crd_established(extensions: client.ApiextensionsV1Api, name: str = CRD_NAME) -> bool:
    """Read, not watched: a watch may end in a 504 while the server's watch cache lags (a loaded machine)."""
    conditions = extensions.read_custom_resource_definition(name).status.conditions or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def _serves_stores(custom: client.CustomObjectsApi, namespace: str) -> bool:
    """The handler has the generated schema: a spec with every field passes a Strict dry run."""
    try:
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            store_resource(GOOD_SPECS[-1]),
            dry_run="All",
            field_validation="Strict",
        )
    except ApiException as error:
        if error.status in (400, 404, 422):
            return False
        raise
    return True


def install_crd(admin: client.ApiClient, body: dict[str, Any], serves: Callable[[], bool]) -> None:
    """CRD ``body`` (as chart/crds has it) created, or replaced when it differs, Established and
    serving (``serves``: a Strict dry run of a full object passes); left in place (other tests share it)."""
    extensions = client.ApiextensionsV1Api(admin)
    name = body["metadata"]["name"]
    try:
        extensions.create_custom_resource_definition(body)
    except ApiException as error:
        if error.status != 409:
            raise
        answer = extensions.read_custom_resource_definition(name, _preload_content=False)
        current = json.loads(answer.data)
        # Replaced only when it differs: a replacement makes the server rebuild the resource's handler,
        # which another test using the CRD at the same moment would see as a short 404.
        if any(current["spec"].get(key) != value for key, value in body["spec"].items()):
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            extensions.replace_custom_resource_definition(name, body)
    established = wait_until(lambda: crd_established(extensions, name), None, 60, interval=0.2)
    assert established, f"{name} not Established"
    assert wait_until(serves, None, 60, interval=0.2), f"{name} not served with the generated schema"


def install_store_crd(admin: client.ApiClient, namespace: str) -> client.CustomObjectsApi:
    """The chart's CRDs installed, serving Stores and Scenarios in `namespace` (the controller lists both):
    the API for their objects."""
    custom = client.CustomObjectsApi(admin)
    install_crd(admin, store_crd(), lambda: _serves_stores(custom, namespace))
    install_crd(admin, scenario_crd(), lambda: _serves_scenarios(custom, namespace))
    return custom


def scenario_resource(spec: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": SCENARIO_KIND,
        "metadata": {"name": name or f"sc-{uuid.uuid4().hex[:10]}"},
        "spec": spec,
    }


# A Scenario with every effect, which a handler serving the generated schema takes.
FULL_SCENARIO = {
    "stores": ["STORE-005"],
    "window": {"start": "2025-03-24", "end": "2025-03-31"},
    "effects": {
        "traffic": {"multiplier": 2},
        "promotion": {"categories": ["Dairy & Eggs"], "discountPct": 30, "displayBoost": 1.5},
        "duplicates": {"probability": 0.02},
        "shrink": {"share": 0.01},
        "sensorFaults": {"noiseGrams": 3},
        "uplinkOutage": {},
    },
}


def _serves_scenarios(custom: client.CustomObjectsApi, namespace: str) -> bool:
    try:
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            SCENARIO_PLURAL,
            scenario_resource(FULL_SCENARIO),
            dry_run="All",
            field_validation="Strict",
        )
    except ApiException as error:
        if error.status in (400, 404, 422):
            return False
        raise
    return True


def store_resource(spec: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Store",
        "metadata": {"name": name or f"s-{uuid.uuid4().hex[:10]}"},
        "spec": spec,
    }


def create_store(
    custom: client.CustomObjectsApi, namespace: str, spec: dict[str, Any], name: str | None = None
) -> dict[str, Any]:
    """A Store created with Strict field validation (as kubectl does); the stored object."""
    created: dict[str, Any] = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, store_resource(spec, name), field_validation="Strict"
    )
    return created


def mint_token(admin: client.ApiClient, namespace: str, service_account: str, seconds: int = 3600) -> str:
    """A token of `service_account` (TokenRequest), as the kubelet would project into its pod."""
    minted = client.CoreV1Api(admin).create_namespaced_service_account_token(
        service_account,
        namespace,
        client.AuthenticationV1TokenRequest.from_dict(
            {"spec": {"audiences": [], "expirationSeconds": seconds}}
        ),
    )
    return str(minted.status.token)


def as_token(admin: client.ApiClient, token: str) -> client.ApiClient:
    """A client of the admin's server, authenticated by `token` alone."""
    settings = client.Configuration()
    settings.host = admin.configuration.host
    settings.ssl_ca_cert = admin.configuration.ssl_ca_cert
    settings.api_key = {"BearerToken": f"Bearer {token}"}
    return client.ApiClient(settings)


def kubeconfig_for_token(admin_kubeconfig: Path, token: str, path: Path, server: str | None = None) -> Path:
    """A kubeconfig at `path` that reaches the admin kubeconfig's server (or `server`), checked against the
    same CA, authenticated by `token` alone."""
    admin = yaml.safe_load(admin_kubeconfig.read_text(encoding="utf-8"))
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = dict(next(c for c in admin["clusters"] if c["name"] == context["cluster"])["cluster"])
    if server is not None:
        cluster["server"] = server
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "storesim", "cluster": cluster}],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": "token", "context": {"cluster": "storesim", "user": "token"}}],
        "current-context": "token",
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")  # JSON is YAML
    path.chmod(0o600)
    return path


# --- the controller ---------------------------------------------------------------------------------------


@dataclass
class ControllerProcess:
    """One `storesim run controller`, its identity (POD_NAME), ops port and log file."""

    process: subprocess.Popen[str]
    pod_name: str
    metrics_port: int
    log_path: Path
    env: dict[str, str]
    _log_file: IO[str] | None = field(default=None, repr=False)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """(sample name, sorted labels) → value from /metrics; empty while nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as answer:
                text = answer.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return {}
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, tuple(sorted(labels.items()))))

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM, and its exit code (killed after `timeout`: then -9)."""
        try:
            return stop_process(self.process, timeout)
        finally:
            self._close()

    def kill(self) -> None:
        """kill -9: no release of the lease, no goodbye."""
        self.process.kill()
        self.process.wait()
        self._close()

    def _close(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def start_controller(
    kubeconfig: Path,
    namespace: str,
    log_dir: Path,
    *,
    pod_name: str | None = None,
    stores_file: Path | None = None,
    lease_seconds: tuple[int, int, int] = (4, 3, 1),
    prometheus_url: str | None = None,
    status_interval_seconds: float | None = None,
    **extra: str,
) -> ControllerProcess:
    """`storesim run controller` for `namespace` as a subprocess, with no controller variable inherited
    from the caller but those given: lease_seconds is (LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD); extra
    are further variables (e.g. STORES_CONFIGMAP). Its log (JSON lines on stderr) goes to log_dir."""
    pod_name = pod_name or f"controller-{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in CONTROLLER_VARIABLES and not name.startswith("KUBERNETES_SERVICE_")
    }
    duration, deadline, retry = lease_seconds
    env.update(
        KUBECONFIG=str(kubeconfig),
        NAMESPACE=namespace,
        POD_NAME=pod_name,
        METRICS_PORT=str(port),
        LEASE_DURATION_SECONDS=str(duration),
        RENEW_DEADLINE_SECONDS=str(deadline),
        RETRY_PERIOD_SECONDS=str(retry),
    )
    if stores_file is not None:
        env["STORES_FILE"] = str(stores_file)
    if prometheus_url is not None:
        env["PROMETHEUS_URL"] = prometheus_url
    if status_interval_seconds is not None:
        env["STATUS_INTERVAL_SECONDS"] = str(status_interval_seconds)
    env.update(extra)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{pod_name}.log"
    log_file = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen([STORESIM, "run", "controller"], env=env, stderr=log_file, text=True)
    return ControllerProcess(process, pod_name, port, log_path, env, log_file)


# --- what it writes ---------------------------------------------------------------------------------------


def configmap_text(core: client.CoreV1Api, namespace: str, name: str = STORES_CONFIGMAP) -> str | None:
    """The ConfigMap's stores.json, or None when there is no such ConfigMap (or key)."""
    try:
        found = core.read_namespaced_config_map(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    text: str | None = (found.data or {}).get("stores.json")
    return text


def wait_for_configmap(
    core: client.CoreV1Api,
    namespace: str,
    expected: str,
    watched: subprocess.Popen[str] | None,
    deadline_seconds: float = 30,
    name: str = STORES_CONFIGMAP,
) -> bool:
    """Until the ConfigMap's stores.json is exactly `expected` (write_stores_file of the specs); False at the
    deadline or when `watched` exits."""
    return wait_until(lambda: configmap_text(core, namespace, name) == expected, watched, deadline_seconds)


def wait_for_file(
    path: Path, expected: str, watched: subprocess.Popen[str] | None, deadline_seconds: float = 30
) -> bool:
    """Until the file at `path` holds exactly `expected`."""

    def holds() -> bool:
        try:
            return path.read_text(encoding="utf-8") == expected
        except FileNotFoundError:
            return False

    return wait_until(holds, watched, deadline_seconds)


def lease(admin: client.ApiClient, namespace: str, name: str = LEASE_NAME) -> client.V1Lease | None:
    try:
        return client.CoordinationV1Api(admin).read_namespaced_lease(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def lease_holder(admin: client.ApiClient, namespace: str, name: str = LEASE_NAME) -> str | None:
    """The Lease's holderIdentity (None: no Lease, or released)."""
    found = lease(admin, namespace, name)
    return None if found is None or found.spec is None else found.spec.holder_identity


def condition(resource: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The condition of type `kind` in a Store's status."""
    for entry in (resource.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            found: dict[str, Any] = entry
            return found
    return None


def ready_at_generation(resource: dict[str, Any]) -> bool:
    """Ready True, observed at the Store's current generation."""
    ready = condition(resource, "Ready")
    generation = resource["metadata"]["generation"]
    return (
        (resource.get("status") or {}).get("observedGeneration") == generation
        and ready is not None
        and ready["status"] == "True"
        and ready.get("observedGeneration") == generation
    )


def wait_for_status(
    custom: client.CustomObjectsApi,
    namespace: str,
    name: str,
    holds: Callable[[dict[str, Any]], bool],
    watched: subprocess.Popen[str] | None,
    deadline_seconds: float = 30,
    plural: str = PLURAL,
) -> dict[str, Any]:
    """The Store (or another kind's object) once `holds(it)`; an AssertionError with its last status at
    the deadline."""
    seen: dict[str, Any] = {}

    def check() -> bool:
        seen.clear()
        seen.update(custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name))
        return holds(seen)

    assert wait_until(check, watched, deadline_seconds), f"{name}: {json.dumps(seen.get('status'))}"
    return seen


# --- an API server that goes away and comes back --------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:port to `target` byte for byte (TLS passes through untouched), until stop(), which
    closes the listener and every connection at once: an API server that vanishes. start() again listens on
    the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        for sock in [*sockets, *([listener] if listener is not None else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                downstream.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    downstream.close()
                    upstream.close()
                    return
                self._sockets.update((downstream, upstream))
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
