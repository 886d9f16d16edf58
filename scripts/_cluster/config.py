"""The one-node cluster's fixed facts: its addresses, ranges, ports and where it keeps its state.

Everything is local. The node's address lives on `lo` (kubelet refuses a loopback node IP, and pods must
reach the API server at it); the pod and Service ranges exist only behind the node's bridge. The machine's
own interfaces are guarded (host.py) so that no packet of these ranges leaves through them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from _stack.config import Layout

NODE_NAME = "storesim-node"
NODE_IP = "10.200.0.1"
NODE_RANGE = "10.200.0.0/24"
POD_RANGE = "10.244.0.0/24"  # the node's share of CLUSTER_RANGE, handed to the CNI bridge
CLUSTER_RANGE = "10.244.0.0/16"
SERVICE_RANGE = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service: the first address of SERVICE_RANGE
BRIDGE = "storesim0"
GUARD_CHAIN = "STORESIM-GUARD"  # in iptables' mangle table, jumped to from POSTROUTING per interface
# Sockets and runtime state: short paths (a unix socket's path has at most 107 bytes), gone at `down`.
RUN_DIR = Path("/run/storesim-cluster")
CONTAINERD_SOCKET = RUN_DIR / "containerd" / "containerd.sock"
CTR = "/usr/bin/ctr"
RUNC = "/usr/sbin/runc"
CNI_BIN_DIR = "/usr/lib/cni"
# The Debian packages the node runs on, and those its images are built with (scripts/build-images and the
# add-ons: buildah, mmdebstrap, umoci, skopeo); apt-get install, once.
NODE_PACKAGES = ("containerd", "runc", "containernetworking-plugins", "iptables", "conntrack")
IMAGE_PACKAGES = ("buildah", "mmdebstrap", "umoci", "skopeo")

# Ports: the API server's on the node address, everything else on loopback.
ETCD_PORT, ETCD_PEER_PORT = 22379, 22380
APISERVER_PORT = 26443
KUBELET_PORT, KUBELET_HEALTHZ_PORT = 10250, 10248
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
PROXY_METRICS_PORT, PROXY_HEALTHZ_PORT = 10249, 10256
CONTAINERD_STREAM_PORT = 10010  # kubectl exec/logs/port-forward: API server -> kubelet -> containerd


def cluster_layout(repo: Path) -> Layout:
    """scripts/stack's layout with the cluster's own state directory (pids, logs, PKI, etcd, kubelet)."""
    return dataclasses.replace(Layout.load(repo), state_name=".stack/cluster")


def kubeconfig_path(layout: Layout) -> Path:
    """The admin's kubeconfig (system:masters): for the tests and for a person's kubectl."""
    return layout.state / "kubeconfig"


def api_url() -> str:
    return f"https://{NODE_IP}:{APISERVER_PORT}"
