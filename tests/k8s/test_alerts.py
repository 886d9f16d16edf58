"""The PrometheusRule's alerts, as the chart renders them, pass `promtool check rules` and the unit tests
in alerts_test.yaml (`promtool test rules`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from tests.k8s.chart import CHART, of_kind, render, run, tool

HERE = Path(__file__).resolve().parent


def _rules(tmp_path: Path) -> Path:
    objects = render(sets=("metrics.prometheusRule.enabled=true",))
    (rule,) = of_kind(objects, "PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


def test_the_four_alerts_are_there(tmp_path: Path) -> None:
    groups = yaml.safe_load(_rules(tmp_path).read_text())["groups"]
    assert [r["alert"] for g in groups for r in g["rules"]] == [
        "StoresimNoEventsProduced",
        "StoresimConsumerLagGrowing",
        "StoresimDeadLetters",
        "StoresimPodNotReady",
    ]


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    result = run([tool("promtool"), "check", "rules", str(_rules(tmp_path))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    _rules(tmp_path)
    shutil.copy(HERE / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    result = run([tool("promtool"), "test", "rules", "alerts_test.yaml"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_fail_when_an_alert_is_broken(tmp_path: Path) -> None:
    """The unit tests catch a rule that no longer fires: here one with an impossible threshold."""
    rules = _rules(tmp_path)
    rules.write_text(rules.read_text().replace("> 1000", "> 1000000"))
    shutil.copy(HERE / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    result = run([tool("promtool"), "test", "rules", "alerts_test.yaml"], cwd=tmp_path)
    assert result.returncode != 0
    assert "StoresimConsumerLagGrowing" in result.stdout + result.stderr


def test_the_chart_documents_the_release_label() -> None:
    assert "release: <its release name>" in (CHART / "values.yaml").read_text()
