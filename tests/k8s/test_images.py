"""Both Dockerfiles are hadolint-clean at failure threshold warning; the pinned hadolint does flag a
Dockerfile that breaks its rules, so a pass means something."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.k8s.chart import REPO, run, tool

DOCKERFILES = sorted((REPO / "images").glob("*.Dockerfile"))


def hadolint(path: Path) -> tuple[int, str]:
    result = run([tool("hadolint"), "--no-color", "--failure-threshold", "warning", str(path)])
    return result.returncode, result.stdout + result.stderr


def test_both_images_have_a_dockerfile() -> None:
    assert [p.name for p in DOCKERFILES] == ["data-loader.Dockerfile", "service.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.stem)
def test_the_dockerfile_is_hadolint_clean(dockerfile: Path) -> None:
    assert hadolint(dockerfile) == (0, "")


def test_hadolint_flags_an_unpinned_base_and_a_root_user(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install storesim\nUSER root\n")
    code, output = hadolint(bad)
    assert code == 1
    assert "DL3007" in output  # latest
    assert "DL3013" in output  # unpinned pip install


def test_the_final_stage_is_slim_python_without_build_tools() -> None:
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        assert "ARG PYTHON_IMAGE=python:3.11." in text
        assert "-slim" in text
        final = text.rsplit("\nFROM ", 1)[1]
        assert final.startswith("${PYTHON_IMAGE}\n")
        for tool_name in ("apt-get", "gcc", "pip install", "build-essential"):
            assert tool_name not in final, f"{dockerfile.name}: {tool_name} in the final stage"
        assert "--constraint constraints.txt" in text
