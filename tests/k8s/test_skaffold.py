"""skaffold.yaml validates against skaffold's v4beta13 schema, builds both images from their
Dockerfiles, sets the chart's image values, forwards every simulator's metrics port, and has a kind
profile."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import yaml
from tests.k8s.chart import REPO, SCHEMAS, SIMULATORS, helm

SKAFFOLD = REPO / "skaffold.yaml"


def _config() -> Any:
    return yaml.safe_load(SKAFFOLD.read_text())


def _validator() -> Any:
    return jsonschema.Draft7Validator(json.loads((SCHEMAS / "skaffold-v4beta13.json").read_text()))


def test_skaffold_yaml_validates_against_the_v4beta13_schema() -> None:
    config = _config()
    assert config["apiVersion"] == "skaffold/v4beta13"
    assert [e.message for e in _validator().iter_errors(config)] == []


def test_the_schema_rejects_an_unknown_field() -> None:
    config = _config()
    config["build"]["artifacts"][0]["dockerfile"] = "images/service.Dockerfile"  # belongs under docker:
    assert list(_validator().iter_errors(config))


def test_both_images_are_built_from_their_dockerfiles() -> None:
    artifacts = {a["image"]: a for a in _config()["build"]["artifacts"]}
    assert set(artifacts) == {"storesim", "storesim-data-loader"}
    for artifact in artifacts.values():
        assert (REPO / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()


def test_the_helm_release_sets_both_image_references() -> None:
    (release,) = _config()["deploy"]["helm"]["releases"]
    assert (REPO / release["chartPath"] / "Chart.yaml").is_file()
    templates = release["setValueTemplates"]
    assert templates == {
        "image.repository": "{{.IMAGE_REPO_storesim}}",
        "image.tag": "{{.IMAGE_TAG_storesim}}@{{.IMAGE_DIGEST_storesim}}",
        "dataLoaderImage.repository": "{{.IMAGE_REPO_storesim_data_loader}}",
        "dataLoaderImage.tag": "{{.IMAGE_TAG_storesim_data_loader}}@{{.IMAGE_DIGEST_storesim_data_loader}}",
    }


def test_the_port_forwards_reach_every_simulators_metrics_service() -> None:
    config = _config()
    (release,) = config["deploy"]["helm"]["releases"]
    result = helm(
        "template", release["name"], str(REPO / release["chartPath"]), "--namespace", release["namespace"]
    )
    assert result.returncode == 0, result.stderr
    services = {
        o["metadata"]["name"]: o
        for o in yaml.safe_load_all(result.stdout)
        if o and o["kind"] == "Service" and o["metadata"]["labels"].get("storesim.io/metrics") == "true"
    }
    forwards = config["portForward"]
    expected = {f"storesim-{c}" for c in SIMULATORS} | {"storesim-controller"}
    assert {f["resourceName"] for f in forwards} == set(services) == expected
    for forward in forwards:
        assert forward["namespace"] == release["namespace"]
        assert forward["port"] in [p["port"] for p in services[forward["resourceName"]]["spec"]["ports"]]
    assert len({f["localPort"] for f in forwards}) == len(forwards)


def test_the_kind_profile_loads_images_without_pushing_and_applies_the_kind_values() -> None:
    (kind,) = [p for p in _config()["profiles"] if p["name"] == "kind"]
    assert kind["build"]["local"]["push"] is False
    patched = {p["path"]: p["value"] for p in kind["patches"]}
    assert patched["/deploy/helm/releases/0/valuesFiles"] == ["chart/ci/kind-values.yaml"]
    assert (REPO / "chart" / "ci" / "kind-values.yaml").is_file()
    assert "@" not in patched["/deploy/helm/releases/0/setValueTemplates"]["image.tag"]
