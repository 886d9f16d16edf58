"""The node's processes, each a scripts/stack Service: how it is configured, launched and probed.

In start order: containerd, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
kube-proxy. Each writes its configuration into the cluster's state directory just before it starts, so a
config is always the one the running process read.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from _stack import kube, probes, procs
from _stack.config import Layout
from _stack.services import Service

from . import pki
from .addons import CLUSTER_DNS, CLUSTER_DOMAIN, PAUSE_IMAGE
from .config import (
    APISERVER_PORT,
    BRIDGE,
    CLUSTER_RANGE,
    CNI_BIN_DIR,
    CONTAINERD_SOCKET,
    CONTAINERD_STREAM_PORT,
    CONTROLLER_MANAGER_PORT,
    CTR,
    ETCD_PEER_PORT,
    ETCD_PORT,
    KUBELET_HEALTHZ_PORT,
    KUBELET_PORT,
    NODE_IP,
    NODE_NAME,
    POD_RANGE,
    PROXY_HEALTHZ_PORT,
    PROXY_METRICS_PORT,
    RUN_DIR,
    RUNC,
    SCHEDULER_PORT,
    SERVICE_RANGE,
    api_url,
)

LOOPBACK = "127.0.0.1"


def binary(layout: Layout, command: str) -> Path:
    return kube.kubernetes_binary(layout, command)


def _dir(layout: Layout, name: str) -> Path:
    path = layout.state / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def https_status(url: str, ca: Path, client: str | None = None, timeout: float = 2.0) -> int | None:
    """The status of GET `url`, the server checked against `ca`, as `client` (a pki client name) or
    anonymously; None while there is no answer (or no CA yet)."""
    if not ca.exists():
        return None
    context = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        directory = ca.parent
        context.load_cert_chain(str(directory / f"{client}.crt"), str(directory / f"{client}.key"))
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return None


def _local_healthz(port: int) -> bool:
    """The serving certificate of controller-manager and scheduler is self-signed: /healthz is not checked
    against a CA, only asked on loopback."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(
            f"https://{LOOPBACK}:{port}/healthz", timeout=2, context=context
        ) as answer:
            return int(answer.status) == 200
    except (OSError, ValueError):
        return False


def _http_ok(url: str) -> bool:
    return probes.http_status(url) == 200


# --- containerd + runc + CNI --------------------------------------------------------------------------


def _containerd_config(layout: Layout) -> Path:
    directory = _dir(layout, "containerd")
    cni_dir = _dir(layout, "cni/net.d")
    conflist = {
        "cniVersion": "1.0.0",
        "name": "storesim",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,  # nothing is masqueraded towards the machine's interfaces
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(_dir(layout, "cni/ipam")),
                    "ranges": [[{"subnet": POD_RANGE, "gateway": POD_RANGE.replace("0/24", "1")}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }
    (cni_dir / "10-storesim.conflist").write_text(json.dumps(conflist, indent=2))
    # Any registry a pod might name resolves to a closed loopback port: nothing is ever pulled.
    for registry in ("_default", "docker.io", "registry.k8s.io"):
        hosts = _dir(layout, f"containerd/certs.d/{registry}")
        (hosts / "hosts.toml").write_text('server = "http://127.0.0.1:1"\n')
    disabled = ["aufs", "btrfs", "devmapper", "zfs"]
    plugins = [f'"io.containerd.snapshotter.v1.{name}"' for name in disabled]
    plugins += ['"io.containerd.tracing.processor.v1.otlp"', '"io.containerd.internal.v1.tracing"']
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    config = f"""\
version = 2
root = "{directory / "root"}"
state = "{RUN_DIR / "containerd" / "state"}"
disabled_plugins = [{", ".join(plugins)}]
[grpc]
  address = "{CONTAINERD_SOCKET}"
[ttrpc]
  address = "{CONTAINERD_SOCKET}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "{LOOPBACK}"
  stream_server_port = "{CONTAINERD_STREAM_PORT}"
  enable_cdi = false
  # Root here lacks CAP_SYS_RESOURCE: an oom_score_adj may be raised, never lowered (kubelet asks -998).
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        Root = "{RUN_DIR / "runc"}"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_dir}"
    max_conf_num = 1
  [{cri}.registry]
    config_path = "{directory / "certs.d"}"
"""
    path = directory / "config.toml"
    path.write_text(config)
    return path


def _launch_containerd(layout: Layout) -> subprocess.Popen[bytes]:
    CONTAINERD_SOCKET.parent.mkdir(parents=True, exist_ok=True)
    config = _containerd_config(layout)
    return procs.spawn(layout, "containerd", ["containerd", "--config", str(config)], cwd=layout.state)


def ctr(*args: str) -> list[str]:
    return [CTR, "--address", str(CONTAINERD_SOCKET), "--namespace", "k8s.io", *args]


def _containerd_ready(layout: Layout) -> bool:
    return subprocess.run(ctr("version"), capture_output=True, check=False).returncode == 0


# --- etcd and the control plane --------------------------------------------------------------------------


def _launch_etcd(layout: Layout) -> subprocess.Popen[bytes]:
    state = _dir(layout, "etcd")
    client, peer = f"http://{LOOPBACK}:{ETCD_PORT}", f"http://{LOOPBACK}:{ETCD_PEER_PORT}"
    argv = [str(kube.etcd_binary(layout)), "--name", NODE_NAME, "--data-dir", str(state / "data")]
    argv += ["--listen-client-urls", client, "--advertise-client-urls", client]
    argv += ["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer]
    argv += ["--initial-cluster", f"{NODE_NAME}={peer}", "--initial-cluster-state", "new", "--logger", "zap"]
    return procs.spawn(layout, "etcd", argv, cwd=state)


def _launch_apiserver(layout: Layout) -> subprocess.Popen[bytes]:
    p = pki.ensure(layout)
    argv = [str(binary(layout, "kube-apiserver")), f"--etcd-servers=http://{LOOPBACK}:{ETCD_PORT}"]
    argv += [f"--bind-address={NODE_IP}", f"--advertise-address={NODE_IP}", f"--secure-port={APISERVER_PORT}"]
    argv += [f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}"]
    argv += [f"--client-ca-file={p / 'ca.crt'}", f"--kubelet-certificate-authority={p / 'ca.crt'}"]
    argv += [f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}"]
    argv += [f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}"]
    argv += ["--kubelet-preferred-address-types=InternalIP"]
    argv += ["--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction"]
    argv += [
        f"--service-cluster-ip-range={SERVICE_RANGE}",
        f"--service-account-issuer={kube.SERVICE_ACCOUNT_ISSUER}",
    ]
    argv += [
        f"--service-account-key-file={p / 'sa.pub'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
    ]
    argv += ["--allow-privileged=true", "--profiling=false"]
    return procs.spawn(layout, "kube-apiserver", argv, cwd=_dir(layout, "kube-apiserver"))


def _apiserver_ready(layout: Layout) -> bool:
    ca = pki.pki_dir(layout) / "ca.crt"
    return https_status(f"{api_url()}/readyz", ca, client="admin") == 200


def _launch_controller_manager(layout: Layout) -> subprocess.Popen[bytes]:
    p = pki.pki_dir(layout)
    config = p / "controller-manager.kubeconfig"
    argv = [str(binary(layout, "kube-controller-manager")), f"--kubeconfig={config}"]
    argv += [f"--authentication-kubeconfig={config}", f"--authorization-kubeconfig={config}"]
    argv += [f"--bind-address={LOOPBACK}", f"--secure-port={CONTROLLER_MANAGER_PORT}", "--leader-elect=false"]
    argv += [f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={p / 'ca.crt'}"]
    argv += ["--use-service-account-credentials=true"]
    argv += [f"--cluster-signing-cert-file={p / 'ca.crt'}", f"--cluster-signing-key-file={p / 'ca.key'}"]
    argv += ["--allocate-node-cidrs=true", f"--cluster-cidr={CLUSTER_RANGE}", "--node-cidr-mask-size=24"]
    argv += [f"--service-cluster-ip-range={SERVICE_RANGE}", "--controllers=*", "--profiling=false"]
    return procs.spawn(layout, "kube-controller-manager", argv, cwd=layout.state)


def _launch_scheduler(layout: Layout) -> subprocess.Popen[bytes]:
    config = pki.pki_dir(layout) / "scheduler.kubeconfig"
    argv = [str(binary(layout, "kube-scheduler")), f"--kubeconfig={config}"]
    argv += [f"--authentication-kubeconfig={config}", f"--authorization-kubeconfig={config}"]
    argv += [f"--bind-address={LOOPBACK}", f"--secure-port={SCHEDULER_PORT}", "--leader-elect=false"]
    argv += ["--profiling=false"]
    return procs.spawn(layout, "kube-scheduler", argv, cwd=layout.state)


# --- The node: kubelet and kube-proxy ---------------------------------------------------------------------


def _kubelet_config(layout: Layout) -> Path:
    p = pki.pki_dir(layout)
    directory = _dir(layout, "kubelet-config")
    resolv = directory / "resolv.conf"
    resolv.write_text("")  # pods get the cluster's DNS only, never the machine's resolver
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": LOOPBACK,
        "healthzPort": KUBELET_HEALTHZ_PORT,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(p / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(p / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(p / "kubelet-serving.key"),
        "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
        "cgroupDriver": "cgroupfs",  # no systemd here
        "failCgroupV1": False,
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": ["pods"],
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [CLUSTER_DNS],
        "resolvConf": str(resolv),
        "podLogsDir": str(_dir(layout, "pod-logs")),
        "staticPodPath": "",
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "maxPods": 60,
        # Nothing could pull an image back: never collect one.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "2%",
            "nodefs.inodesFree": "2%",
            "imagefs.available": "2%",
        },
        "protectKernelDefaults": False,
        "failSwapOn": False,
        "syncFrequency": "10s",
        "nodeStatusReportFrequency": "10s",
    }
    path = directory / "kubelet-config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _launch_kubelet(layout: Layout) -> subprocess.Popen[bytes]:
    config = _kubelet_config(layout)
    argv = [str(binary(layout, "kubelet")), f"--config={config}"]
    argv += [
        f"--kubeconfig={pki.pki_dir(layout) / 'kubelet.kubeconfig'}",
        f"--root-dir={_dir(layout, 'kubelet')}",
    ]
    argv += [f"--hostname-override={NODE_NAME}", f"--node-ip={NODE_IP}", "--v=1"]
    return procs.spawn(layout, "kubelet", argv, cwd=layout.state)


def _launch_kube_proxy(layout: Layout) -> subprocess.Popen[bytes]:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "clusterCIDR": CLUSTER_RANGE,
        "clientConnection": {"kubeconfig": str(pki.pki_dir(layout) / "kube-proxy.kubeconfig")},
        "healthzBindAddress": f"{LOOPBACK}:{PROXY_HEALTHZ_PORT}",
        "metricsBindAddress": f"{LOOPBACK}:{PROXY_METRICS_PORT}",
        "nodePortAddresses": ["primary"],
        # No route_localnet (sysctl) and no masquerading of every packet: only what Services need.
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        # Conntrack limits left as the machine has them: no sysctl is changed.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }
    path = _dir(layout, "kube-proxy") / "kube-proxy-config.json"
    path.write_text(json.dumps(config, indent=2))
    argv = [str(binary(layout, "kube-proxy")), f"--config={path}", "--v=1"]
    return procs.spawn(layout, "kube-proxy", argv, cwd=layout.state)


COMPONENTS = {
    "containerd": Service(
        "containerd", ports=lambda _: (), launch=_launch_containerd, ready=_containerd_ready, deadline=60
    ),
    "etcd": Service(
        "etcd",
        ports=lambda _: (ETCD_PORT, ETCD_PEER_PORT),
        launch=_launch_etcd,
        ready=lambda _: _http_ok(f"http://{LOOPBACK}:{ETCD_PORT}/health"),
        deadline=60,
    ),
    "kube-apiserver": Service(
        "kube-apiserver",
        ports=lambda _: (),  # on the node address, which no one else uses
        launch=_launch_apiserver,
        ready=_apiserver_ready,
        deadline=180,
    ),
    "kube-controller-manager": Service(
        "kube-controller-manager",
        ports=lambda _: (CONTROLLER_MANAGER_PORT,),
        launch=_launch_controller_manager,
        ready=lambda _: _local_healthz(CONTROLLER_MANAGER_PORT),
        deadline=120,
    ),
    "kube-scheduler": Service(
        "kube-scheduler",
        ports=lambda _: (SCHEDULER_PORT,),
        launch=_launch_scheduler,
        ready=lambda _: _local_healthz(SCHEDULER_PORT),
        deadline=120,
    ),
    "kubelet": Service(
        "kubelet",
        ports=lambda _: (KUBELET_HEALTHZ_PORT,),
        launch=_launch_kubelet,
        ready=lambda _: _http_ok(f"http://{LOOPBACK}:{KUBELET_HEALTHZ_PORT}/healthz"),
        deadline=120,
    ),
    "kube-proxy": Service(
        "kube-proxy",
        ports=lambda _: (PROXY_METRICS_PORT, PROXY_HEALTHZ_PORT),
        launch=_launch_kube_proxy,
        ready=lambda _: _http_ok(f"http://{LOOPBACK}:{PROXY_HEALTHZ_PORT}/healthz"),
        deadline=120,
    ),
}
__all__ = ["COMPONENTS", "binary", "ctr", "https_status"]
