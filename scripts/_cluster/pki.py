"""The cluster's certificates and kubeconfigs, made with openssl once per cluster (`down` deletes them).

One CA signs everything: the API server's and the kubelet's serving certificates, and a client certificate
per component, whose subject is its identity (O = group, CN = user) as kubeadm names them. No bootstrap
tokens and no CSR flow: the kubelet's client certificate is issued here, as the node's.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from _stack import kube
from _stack.config import Layout

from .config import API_SERVICE_IP, NODE_IP, NODE_NAME, api_url, kubeconfig_path

DAYS = "3650"
# P-256 keys: as good as RSA-2048 here and generated in milliseconds, on a machine that is short of CPU.
KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Client:
    """A component's identity towards the API server, and the kubeconfig that carries it (None: no file)."""

    name: str
    subject: str
    kubeconfig: str | None


CLIENTS = (
    Client("admin", "/O=system:masters/CN=storesim-admin", "kubeconfig"),
    Client("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", None),
    Client("kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}", "kubelet.kubeconfig"),
    Client("controller-manager", "/CN=system:kube-controller-manager", "controller-manager.kubeconfig"),
    Client("scheduler", "/CN=system:kube-scheduler", "scheduler.kubeconfig"),
    Client("kube-proxy", "/CN=system:kube-proxy", "kube-proxy.kubeconfig"),
)
APISERVER_NAMES = (
    f"IP:{NODE_IP}",
    "IP:127.0.0.1",
    f"IP:{API_SERVICE_IP}",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
)


def pki_dir(layout: Layout) -> Path:
    return layout.state / "pki"


def _openssl(args: list[str], what: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"cluster: openssl failed making {what}:\n{done.stderr}")


def _issue(directory: Path, name: str, subject: str, extensions: str) -> None:
    """<name>.key and <name>.crt, signed by the CA in `directory`."""
    key, csr, crt = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "crt"))
    _openssl(["req", "-new", *KEY, "-keyout", str(key), "-out", str(csr), "-subj", subject], name)
    ext = directory / f"{name}.ext"
    ext.write_text(f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}\n")
    signing = ["-CA", str(directory / "ca.crt"), "-CAkey", str(directory / "ca.key")]
    serial = ["-set_serial", f"0x{secrets.token_hex(16)}"]
    args = ["x509", "-req", "-in", str(csr), *signing, *serial, "-days", DAYS, "-extfile", str(ext)]
    _openssl([*args, "-out", str(crt)], name)
    csr.unlink()
    ext.unlink()
    key.chmod(0o600)


def ensure(layout: Layout) -> Path:
    """Makes whatever of the PKI is missing; returns its directory."""
    directory = pki_dir(layout)
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "ca.crt").exists():
        args = ["req", "-x509", *KEY, "-keyout", str(directory / "ca.key"), "-out", str(directory / "ca.crt")]
        _openssl([*args, "-days", DAYS, "-subj", "/CN=storesim-cluster-ca"], "the CA")
        (directory / "ca.key").chmod(0o600)
    if not (directory / "apiserver.crt").exists():
        names = ",".join(APISERVER_NAMES)
        _issue(
            directory,
            "apiserver",
            "/CN=kube-apiserver",
            f"extendedKeyUsage=serverAuth\nsubjectAltName={names}",
        )
    if not (directory / "kubelet-serving.crt").exists():
        names = f"IP:{NODE_IP},DNS:{NODE_NAME}"
        subject = f"/O=system:nodes/CN=system:node:{NODE_NAME}"
        _issue(directory, "kubelet-serving", subject, f"extendedKeyUsage=serverAuth\nsubjectAltName={names}")
    for client in CLIENTS:
        if not (directory / f"{client.name}.crt").exists():
            _issue(directory, client.name, client.subject, "extendedKeyUsage=clientAuth")
    if not (directory / "sa.key").exists():
        _openssl(
            [
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-out",
                str(directory / "sa.key"),
            ],
            "the ServiceAccount key",
        )
        (directory / "sa.key").chmod(0o600)
        _openssl(
            ["pkey", "-in", str(directory / "sa.key"), "-pubout", "-out", str(directory / "sa.pub")], "sa.pub"
        )
    for client in CLIENTS:
        if client.kubeconfig is not None:
            target = kubeconfig_path(layout) if client.name == "admin" else directory / client.kubeconfig
            _write_kubeconfig(target, directory, client.name)
    return directory


def _write_kubeconfig(path: Path, directory: Path, name: str) -> None:
    def data(file: str) -> str:
        return base64.b64encode((directory / file).read_bytes()).decode()

    credentials = {"client-certificate-data": data(f"{name}.crt"), "client-key-data": data(f"{name}.key")}
    text = kube.kubeconfig_text(api_url(), (directory / "ca.crt").read_bytes(), name, credentials)
    kube.write_private(path, text)
