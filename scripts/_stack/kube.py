"""`scripts/kube`: a Kubernetes control plane for tests, on loopback and without containers.

etcd is Debian's etcd-server, unpacked into the cache (not installed: a package install would also start
the distribution's etcd.service on a machine with systemd). kube-apiserver is built once from the
k8s.io/kubernetes Go module pinned in kube/kubernetes/go.mod, in one `go build` with the commands of
scripts/cluster's node, stamped with its version as Kubernetes' own build does: an unstamped binary says
v0.0.0, which fails helm's `kubeVersion` checks.

There is no kube-controller-manager, scheduler or kubelet: objects are stored and validated, nothing runs.
So no namespace gets its `default` ServiceAccount, and the ServiceAccount admission plugin, which rejects a
Pod whose ServiceAccount does not exist, is disabled; Pods are still accepted (and never scheduled).
Deleted namespaces stay Terminating for the same reason: tests use namespaces of their own. And
`helm install` needs `--no-hooks` and no `--wait`: a hook Job, or a Deployment's rollout, never finishes.
etcd 3.4 lacks RequestWatchProgress, so kube-apiserver reads consistent lists from etcd, not its cache.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from . import probes, procs
from .cli import ServiceSet
from .config import HOST, Layout, env_port, log
from .install import _require, _run
from .services import Service

ETCD_DEB_VERSION = "3.4.23-4+b4"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN_USER = "storesim-admin"  # in system:masters: every RBAC check passes
# Built together: kube-apiserver for scripts/kube, all of them for scripts/cluster's node.
COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")
# As Kubernetes' release build (hack/lib/golang.sh, not a debug build): no symbols, fewer dependencies.
BUILD_TAGS = "selinux,notest,grpcnotrace"
# hack/lib/version.sh stamps both: client-go's copy is what the binary's own clients report.
VERSION_PACKAGES = ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version")


def _etcd_port() -> int:
    return env_port("STORESIM_ETCD_PORT", 12379)


def _etcd_peer_port() -> int:
    return env_port("STORESIM_ETCD_PEER_PORT", 12380)


def _apiserver_port() -> int:
    return env_port("STORESIM_KUBE_APISERVER_PORT", 16443)


def module_dir(layout: Layout) -> Path:
    return layout.repo / "kube" / "kubernetes"


def kubernetes_version(layout: Layout) -> str:
    """The k8s.io/kubernetes version that kube/kubernetes/go.mod requires, e.g. v1.34.10."""
    text = (module_dir(layout) / "go.mod").read_text()
    found = re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\d+\.\d+\.\d+)\b", text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"stack: no `k8s.io/kubernetes vX.Y.Z` requirement in {module_dir(layout)}/go.mod")
    return found.group(1)


def kubernetes_binary(layout: Layout, command: str) -> Path:
    return layout.cache / f"kubernetes-{kubernetes_version(layout)}" / command


def apiserver_binary(layout: Layout) -> Path:
    return kubernetes_binary(layout, "kube-apiserver")


def etcd_binary(layout: Layout) -> Path:
    return layout.cache / f"etcd-server-{ETCD_DEB_VERSION}" / "etcd"


def kubeconfig_path(layout: Layout) -> Path:
    return layout.state / "kubeconfig"


# --- Installation: etcd from Debian's package, kube-apiserver from its Go module -------------------------


def install_etcd(layout: Layout) -> None:
    binary = etcd_binary(layout)
    if os.access(binary, os.X_OK):
        log(f"etcd {ETCD_DEB_VERSION}: cached in {binary.parent}")
        return
    _require("apt-get")
    _require("dpkg-deb")
    started = time.monotonic()
    log(f"etcd {ETCD_DEB_VERSION}: unpacking /usr/bin/etcd from Debian's etcd-server package")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    with tempfile.TemporaryDirectory() as work:
        # apt-get download runs as the _apt user where it can: give it a directory it may write to.
        os.chmod(work, 0o777)
        download = ["apt-get", "download", "-q", f"etcd-server={ETCD_DEB_VERSION}"]
        fetched = subprocess.run(download, cwd=work, capture_output=True, text=True, check=False)
        if fetched.returncode != 0:
            log("etcd: not in the package lists; running apt-get update")
            _run([*sudo, "apt-get", "update", "-q"], "apt-get update")
            _run(download, "apt-get download", cwd=Path(work))
        (deb,) = Path(work).glob("etcd-server_*.deb")
        _run(["dpkg-deb", "-x", str(deb), f"{work}/root"], "dpkg-deb -x")
        partial = binary.parent.with_name(binary.parent.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        shutil.copy2(f"{work}/root/usr/bin/etcd", partial / "etcd")
    shutil.rmtree(binary.parent, ignore_errors=True)
    partial.rename(binary.parent)
    log(f"etcd {ETCD_DEB_VERSION}: {binary} ({time.monotonic() - started:.1f}s)")


def _version_ldflags(version: str, build_date: str) -> list[str]:
    major, minor, _ = version.removeprefix("v").split(".")
    stamps = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        # The module zip is the tag's tree exactly (go.sum and the checksum database vouch for it), but the
        # Go proxy does not say which commit the tag is: empty, rather than the unstamped "$Format:%H$".
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    return [f"-X {package}.{key}={value}" for package in VERSION_PACKAGES for key, value in stamps.items()]


def build_kubernetes(layout: Layout) -> None:
    """One `go build` of every command in COMMANDS into <cache>/kubernetes-<version>.partial, then renamed:
    a build cut short is never taken for a finished one, and the packages they share compile once."""
    version = kubernetes_version(layout)
    directory = kubernetes_binary(layout, "kube-apiserver").parent
    if all(os.access(directory / command, os.X_OK) for command in COMMANDS):
        log(f"kubernetes {version}: cached in {directory}")
        return
    _require("go")
    started = time.monotonic()
    log(f"kubernetes {version}: building {', '.join(COMMANDS)} from the Go module (10-20 minutes on 2 cores)")
    module = module_dir(layout)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    listed = subprocess.run(
        ["go", "list", "-m", "-json", "k8s.io/kubernetes"],
        cwd=module,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        raise SystemExit(f"stack: go list -m k8s.io/kubernetes failed:\n{listed.stderr}")
    # The release's own time, not the clock's: the same go.mod builds the same binary.
    build_date = json.loads(listed.stdout)["Time"].replace("+00:00", "Z")
    ldflags = " ".join([*_version_ldflags(version, build_date), "-s", "-w"])
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    build = ["go", "build", "-trimpath", "-tags", BUILD_TAGS, f"-ldflags=all={ldflags}", "-o", f"{partial}/"]
    packages = [f"k8s.io/kubernetes/cmd/{command}" for command in COMMANDS]
    _run([*build, *packages], "go build", cwd=module, env=env)
    for command in COMMANDS:
        asked = ["version", "--client"] if command == "kubectl" else ["--version"]
        stamped = subprocess.run(
            [str(partial / command), *asked], capture_output=True, text=True, check=False
        )
        said = stamped.stdout.strip()
        if not said.startswith(("Kubernetes ", "Client Version: ")) or not said.splitlines()[0].endswith(
            version
        ):
            raise SystemExit(f"stack: the built {command} says {said!r}, not {version}")
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    log(f"kubernetes {version}: built into {directory} ({time.monotonic() - started:.1f}s)")


def install(layout: Layout, names: Sequence[str]) -> None:
    layout.cache.mkdir(parents=True, exist_ok=True)
    if "etcd" in names:
        install_etcd(layout)
    if "kube-apiserver" in names:
        _require("openssl")  # the ServiceAccount token signing key
        build_kubernetes(layout)


# --- etcd: one member, client and peer URLs on loopback -------------------------------------------------


def _launch_etcd(layout: Layout) -> subprocess.Popen[bytes]:
    state = layout.state / "etcd"
    state.mkdir(parents=True, exist_ok=True)
    client, peer = f"http://{HOST}:{_etcd_port()}", f"http://{HOST}:{_etcd_peer_port()}"
    argv = [str(etcd_binary(layout)), "--name", "storesim", "--data-dir", str(state / "data")]
    argv += ["--listen-client-urls", client, "--advertise-client-urls", client]
    argv += ["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer]
    argv += ["--initial-cluster", f"storesim={peer}", "--initial-cluster-state", "new", "--logger", "zap"]
    return procs.spawn(layout, "etcd", argv, cwd=state)


def _etcd_ready(layout: Layout) -> bool:
    return probes.http_status(f"http://{HOST}:{_etcd_port()}/health") == 200


# --- kube-apiserver: static token for an admin, RBAC, a self-signed serving certificate -----------------


def _apiserver_dir(layout: Layout) -> Path:
    return layout.state / "kube-apiserver"


def admin_token(layout: Layout) -> str:
    """The admin's bearer token, made once and kept in the state directory's token file."""
    tokens = _apiserver_dir(layout) / "tokens.csv"
    if not tokens.exists():
        tokens.parent.mkdir(parents=True, exist_ok=True)
        tokens.touch(mode=0o600)
        tokens.write_text(f'{secrets.token_hex(32)},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
    return tokens.read_text().split(",", 1)[0]


def _serving_ca(layout: Layout) -> Path:
    """kube-apiserver's self-signed certificate for 127.0.0.1, followed by the CA that signed it: made by
    kube-apiserver itself in --cert-dir on its first start, and kept."""
    return _apiserver_dir(layout) / "certs" / "apiserver.crt"


def _service_account_keys(layout: Layout) -> tuple[Path, Path]:
    """The key pair that signs and verifies ServiceAccount tokens (TokenRequest), made once with openssl."""
    private, public = _apiserver_dir(layout) / "sa.key", _apiserver_dir(layout) / "sa.pub"
    if not (private.exists() and public.exists()):
        _require("openssl")
        keygen = ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
        _run([*keygen, "-out", str(private)], "openssl genpkey")
        private.chmod(0o600)
        _run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], "openssl pkey")
    return private, public


def _launch_apiserver(layout: Layout) -> subprocess.Popen[bytes]:
    state = _apiserver_dir(layout)
    state.mkdir(parents=True, exist_ok=True)
    admin_token(layout)
    signing_key, public_key = _service_account_keys(layout)
    argv = [str(apiserver_binary(layout)), f"--etcd-servers=http://{HOST}:{_etcd_port()}"]
    argv += [f"--bind-address={HOST}", f"--advertise-address={HOST}", f"--secure-port={_apiserver_port()}"]
    argv += [f"--cert-dir={state / 'certs'}", f"--token-auth-file={state / 'tokens.csv'}"]
    argv += ["--authorization-mode=RBAC", f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"]
    argv += [f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"]
    argv += [f"--service-account-signing-key-file={signing_key}", f"--service-account-key-file={public_key}"]
    # Without a controller manager nothing creates the `default` ServiceAccount the plugin looks up.
    argv += ["--disable-admission-plugins=ServiceAccount"]
    # The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints refuse; nothing reads them.
    argv += ["--endpoint-reconciler-type=none", "--profiling=false"]
    return procs.spawn(layout, "kube-apiserver", argv, cwd=state)


def api_request(layout: Layout, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET `path` from kube-apiserver as the admin, the server verified against its own CA."""
    context = ssl.create_default_context(cafile=str(_serving_ca(layout)))
    request = urllib.request.Request(
        f"https://{HOST}:{_apiserver_port()}{path}",
        headers={"Authorization": f"Bearer {admin_token(layout)}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _apiserver_ready(layout: Layout) -> bool:
    return _serving_ca(layout).exists() and api_request(layout, "/readyz")[0] == 200


# --- What `up` leaves for the clients: a kubeconfig ---------------------------------------------------


def kubeconfig_text(server: str, ca_pem: bytes, user: str, credentials: dict[str, str]) -> str:
    """A kubeconfig of one cluster, one user (`credentials`: its `user:` fields) and one context."""
    ca_data = base64.b64encode(ca_pem).decode()
    fields = "".join(f"    {key}: {value}\n" for key, value in credentials.items())
    return f"""\
apiVersion: v1
kind: Config
clusters:
- name: storesim
  cluster:
    server: {server}
    certificate-authority-data: {ca_data}
users:
- name: {user}
  user:
{fields}contexts:
- name: storesim
  context:
    cluster: storesim
    user: {user}
current-context: storesim
"""


def write_private(path: Path, text: str) -> None:
    """`text` into `path`, readable by its owner only, and whole or not at all (written aside, renamed)."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    partial.touch(mode=0o600)
    partial.write_text(text)
    partial.rename(path)


def write_kubeconfig(layout: Layout, names: Sequence[str]) -> Path | None:
    """.stack/kubeconfig: the admin's token, the server checked against the serving certificate's CA."""
    if "kube-apiserver" not in names:
        return None
    server, ca = address(layout, "kube-apiserver"), _serving_ca(layout).read_bytes()
    path = kubeconfig_path(layout)
    write_private(path, kubeconfig_text(server, ca, ADMIN_USER, {"token": admin_token(layout)}))
    return path


def address(layout: Layout, name: str) -> str:
    if name == "etcd":
        return f"http://{HOST}:{_etcd_port()}"
    return f"https://{HOST}:{_apiserver_port()}"


KUBE = ServiceSet(
    prog="scripts/kube",
    description=__doc__ or "",
    install_help="unpack etcd from Debian's package, build kube-apiserver from its Go module (once)",
    definitions={
        "etcd": Service(
            "etcd",
            ports=lambda layout: (_etcd_port(), _etcd_peer_port()),
            launch=_launch_etcd,
            ready=_etcd_ready,
            deadline=60,
        ),
        "kube-apiserver": Service(
            "kube-apiserver",
            ports=lambda layout: (_apiserver_port(),),
            launch=_launch_apiserver,
            ready=_apiserver_ready,
            deadline=180,
        ),
    },
    install=install,
    address=address,
    settings=write_kubeconfig,
    in_order=True,
)
