"""The cluster's PKI (scripts/_cluster/pki.py), made with the real openssl into a scratch state directory:
every certificate chains to the CA, the serving ones name the addresses clients dial, each client's
subject is the identity RBAC and the Node authorizer expect, and a second run changes nothing."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.k8s.chart import REPO

sys.path.insert(0, str(REPO / "scripts"))

from _cluster import pki
from _cluster.config import API_SERVICE_IP, NODE_IP, NODE_NAME, cluster_layout


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    layout = dataclasses.replace(cluster_layout(REPO), repo=tmp_path_factory.mktemp("repo"))
    return pki.ensure(layout), layout.state / "kubeconfig"


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=True)
    return done.stdout


def test_every_certificate_chains_to_the_ca(made: tuple[Path, Path]) -> None:
    directory, _ = made
    names = ["apiserver", "kubelet-serving", *(client.name for client in pki.CLIENTS)]
    for name in names:
        assert openssl(
            "verify", "-CAfile", str(directory / "ca.crt"), str(directory / f"{name}.crt")
        ).endswith(": OK\n")


def test_the_serving_certificates_name_what_clients_dial(made: tuple[Path, Path]) -> None:
    directory, _ = made
    apiserver = openssl("x509", "-in", str(directory / "apiserver.crt"), "-noout", "-ext", "subjectAltName")
    for name in (f"IP Address:{NODE_IP}", f"IP Address:{API_SERVICE_IP}", "DNS:kubernetes.default.svc"):
        assert name in apiserver
    kubelet = openssl(
        "x509", "-in", str(directory / "kubelet-serving.crt"), "-noout", "-ext", "subjectAltName"
    )
    assert f"IP Address:{NODE_IP}" in kubelet


def test_each_client_is_the_identity_it_acts_as(made: tuple[Path, Path]) -> None:
    directory, _ = made
    subject = openssl(
        "x509", "-in", str(directory / "kubelet.crt"), "-noout", "-subject", "-nameopt", "compat"
    )
    assert subject.strip() == f"subject=/O=system:nodes/CN=system:node:{NODE_NAME}"
    admin = openssl("x509", "-in", str(directory / "admin.crt"), "-noout", "-subject", "-nameopt", "compat")
    assert "O=system:masters" in admin


def test_the_admin_kubeconfig_carries_its_certificate_and_the_ca(made: tuple[Path, Path]) -> None:
    _, kubeconfig = made
    config = yaml.safe_load(kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"] == f"https://{NODE_IP}:26443"
    assert config["users"][0]["name"] == "admin"
    assert set(config["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}
    assert kubeconfig.stat().st_mode & 0o077 == 0


def test_a_second_run_changes_nothing(made: tuple[Path, Path]) -> None:
    directory, _ = made
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    layout = dataclasses.replace(cluster_layout(REPO), repo=directory.parents[2])
    pki.ensure(layout)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
