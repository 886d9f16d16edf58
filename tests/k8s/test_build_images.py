"""scripts/build-images' pure parts, offline and without buildah: skaffold.yaml's artifacts (by PyYAML
and by the standard-library fallback reader), Docker's .dockerignore rules, the content tags (which change
with what the build sees, and only with that), the cache's finished-or-not rule, the names containerd
stores, and the command's one-line usage errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

# The scripts' packages import one another by their top-level names, as the scripts run them.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from _images import (
    BASE_REFERENCE,
    BASE_VERSION,
    Artifact,
    BuiltImage,
    IgnoreRules,
    ImagesError,
    build_images,
    cached_base,
    content_tag,
    context_entries,
    cri_name,
    read_artifacts,
    references,
)
from _images import base as base_module
from _images import skaffold as skaffold_module

REPO = Path(__file__).resolve().parents[2]
SKAFFOLD = REPO / "skaffold.yaml"
SCRIPT = REPO / "scripts" / "build-images"
IGNORE_TEXT = (REPO / "images" / "service.Dockerfile.dockerignore").read_text()


def test_the_artifacts_are_skaffolds_two_images_with_their_own_ignore_files() -> None:
    artifacts = {a.image: a for a in read_artifacts(SKAFFOLD)}
    assert set(artifacts) == {"storesim", "storesim-data-loader"}
    for image, stem in (("storesim", "service"), ("storesim-data-loader", "data-loader")):
        assert artifacts[image].context == REPO
        assert artifacts[image].dockerfile == REPO / "images" / f"{stem}.Dockerfile"
        assert artifacts[image].ignorefile == REPO / "images" / f"{stem}.Dockerfile.dockerignore"
        assert artifacts[image].build_args == {}


def test_without_pyyaml_the_fallback_reader_gives_the_same_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    with_pyyaml = read_artifacts(SKAFFOLD)
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ImportError
    assert read_artifacts(SKAFFOLD) == with_pyyaml


def test_the_fallback_reader_agrees_with_pyyaml_on_skaffold_yaml() -> None:
    text = SKAFFOLD.read_text()
    document = yaml.safe_load(text)
    block = skaffold_module._top_level_block(text, "build")
    assert skaffold_module.parse_block_yaml(block) == {"build": document["build"]}
    assert skaffold_module.parse_block_yaml(text) == document  # the whole file is in its subset too


def test_the_fallback_reader_reads_comments_quotes_and_flow_values() -> None:
    text = """\
# top
build:  # trailing comment
  tagPolicy:
    gitCommit: {}
  artifacts:
  - image: 'it''s'
    context: "a # not a comment"
    docker:
      dockerfile: images/x.Dockerfile
      buildArgs:
        A: "1"
        B: [one, two]
  -
    image: plain
  local:
    push: false
deploy: {}
"""
    expected = yaml.safe_load(text)
    assert skaffold_module.parse_block_yaml(text) == expected
    assert skaffold_module.parse_block_yaml(skaffold_module._top_level_block(text, "build")) == {
        "build": expected["build"]
    }


@pytest.mark.parametrize(
    "text",
    [
        "build:\n  artifacts: &a\n    - image: x\n",
        "build:\n  artifacts:\n    - {image: x}\n",
        "build:\n  note: |\n    text\n",
        "build:\n  - x\n   - y\n",
    ],
    ids=["anchor", "flow-mapping", "block-scalar", "bad-indent"],
)
def test_the_fallback_reader_refuses_yaml_beyond_its_subset(text: str) -> None:
    with pytest.raises(ImagesError, match=r"skaffold\.yaml line \d+"):
        skaffold_module.parse_block_yaml(text)


def _skaffold(tmp_path: Path, artifact: str) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "skaffold.yaml"
    path.write_text(f"apiVersion: skaffold/v4beta13\nkind: Config\nbuild:\n  artifacts:\n{artifact}")
    return path


@pytest.mark.parametrize(
    ("artifact", "message"),
    [
        ("    - image: x\n      docker:\n        target: build\n", "does not support: target"),
        ("    - image: x\n      docker:\n        dockerfile: missing\n", "no Dockerfile"),
        ("    - image: Bad_Name\n", "not a valid image name"),
        ("    - image: x\n    - image: x\n", "listed twice"),
    ],
)
def test_settings_that_cannot_be_honoured_are_refused(tmp_path: Path, artifact: str, message: str) -> None:
    with pytest.raises(ImagesError, match=message):
        read_artifacts(_skaffold(tmp_path, artifact))


def test_without_an_ignore_file_the_context_dockerignore_applies(tmp_path: Path) -> None:
    (artifact,) = read_artifacts(_skaffold(tmp_path, "    - image: x\n"))
    assert artifact.ignorefile is None
    (tmp_path / ".dockerignore").write_text("*\n")
    assert artifact.ignorefile == tmp_path / ".dockerignore"


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (IGNORE_TEXT, "src/storesim/cli/__init__.py", False),
        (IGNORE_TEXT, "src/storesim/__pycache__/x.pyc", True),
        (IGNORE_TEXT, "__pycache__", True),
        (IGNORE_TEXT, ".venv/bin/python", True),
        (IGNORE_TEXT, "pyproject.toml", False),
        (IGNORE_TEXT, "images/service.Dockerfile", True),
        ("docs\n!docs/keep.md\n", "docs/keep.md", False),
        ("docs\n!docs/keep.md\n", "docs/drop.md", True),
        ("!docs/keep.md\ndocs\n", "docs/keep.md", True),  # the last matching pattern decides
        ("/build/\n", "build/out.txt", True),
        ("*.md\n", "sub/readme.md", False),  # `*` does not cross a slash
        ("**/*.md\n", "sub/deep/readme.md", True),
        ("**/*.md\n", "readme.md", True),
        ("a?c\n", "abc", True),
        ("a?c\n", "a/c", False),
        ("[ab].txt\n", "b.txt", True),
        ("# a comment\n\n  \n", "anything", False),
    ],
)
def test_the_ignore_rules_are_dockers(patterns: str, path: str, excluded: bool) -> None:
    assert IgnoreRules.parse(patterns).excluded(path) is excluded


def test_an_excluded_directory_is_walked_only_when_an_exception_may_reach_inside() -> None:
    rules = IgnoreRules.parse(IGNORE_TEXT)
    assert rules.prunes(".venv")
    assert rules.prunes("kube")
    assert rules.prunes("src/storesim/__pycache__")
    assert not rules.prunes("src")
    assert not IgnoreRules.parse("*\n!**/keep\n").prunes("anything")
    assert not IgnoreRules.parse("*\n!a/b/c\n").prunes("a")
    assert IgnoreRules.parse("*\n!a/b/c\n").prunes("x")


def test_the_service_image_sees_only_what_its_dockerfile_copies() -> None:
    (artifact,) = [a for a in read_artifacts(SKAFFOLD) if a.image == "storesim"]
    entries = context_entries(artifact.context, IgnoreRules.read(artifact.ignorefile))
    top = {entry.split("/")[0] + ("/" if "/" in entry else "") for entry in entries}
    assert top == {"pyproject.toml", "constraints.txt", "README.md", "schemas/", "src/", "data-loader/"}
    assert "src/storesim/__init__.py" in entries
    assert not [entry for entry in entries if "__pycache__" in entry]


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "images").mkdir(parents=True)
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "images" / "app.Dockerfile").write_text("FROM ${PYTHON_IMAGE}\nCOPY src ./src\n")
    (root / "images" / "app.Dockerfile.dockerignore").write_text(IGNORE_TEXT)
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "pyproject.toml").write_text("[project]\n")
    (root / "notes.txt").write_text("not in the build\n")
    return root


def _tag(root: Path, base_id: str = "base-1", args: dict[str, str] | None = None) -> str:
    dockerfile = root / "images" / "app.Dockerfile"
    return content_tag(root, dockerfile, Path(f"{dockerfile}.dockerignore"), base_id, args)


def test_the_tag_is_stable_and_hex(context: Path) -> None:
    tag = _tag(context)
    assert tag == _tag(context)
    assert len(tag) == 16
    assert int(tag, 16) >= 0


def test_the_tag_changes_with_what_the_build_sees(context: Path) -> None:
    before = _tag(context)
    (context / "src" / "pkg" / "mod.py").write_text("x = 2\n")
    edited = _tag(context)
    assert edited != before
    (context / "src" / "pkg" / "new.py").write_text("")
    added = _tag(context)
    assert added != edited
    (context / "src" / "pkg" / "new.py").chmod(0o755)
    assert _tag(context) != added
    assert _tag(context, base_id="base-2") != _tag(context)
    assert _tag(context, args={"A": "1"}) != _tag(context)
    current = _tag(context)
    (context / "images" / "app.Dockerfile").write_text("FROM ${PYTHON_IMAGE}\nCOPY src /src\n")
    assert _tag(context) != current
    (context / "images" / "app.Dockerfile.dockerignore").write_text(IGNORE_TEXT + "!notes.txt\n")
    assert _tag(context) != current


def test_the_tag_ignores_what_the_ignore_file_keeps_out(context: Path) -> None:
    before = _tag(context)
    (context / "notes.txt").write_text("edited, still not in the build\n")
    (context / "src" / "pkg" / "__pycache__").mkdir()
    (context / "src" / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (context / ".venv").mkdir()
    (context / ".venv" / "lib.py").write_text("")
    assert _tag(context) == before


def test_a_partial_base_build_is_not_taken_for_a_finished_one(tmp_path: Path) -> None:
    assert cached_base(tmp_path) is None
    metadata = {"reference": BASE_REFERENCE, "id": "abc", "version": BASE_VERSION, "packages": {}}
    partial = tmp_path / f"python-base-{BASE_VERSION}.partial"
    partial.mkdir()
    (partial / "base.json").write_text(json.dumps(metadata))
    (partial / "python.oci.tar").write_bytes(b"")
    assert cached_base(tmp_path) is None
    partial.rename(tmp_path / f"python-base-{BASE_VERSION}")
    base = cached_base(tmp_path)
    assert base is not None
    assert (base.reference, base.image_id) == (BASE_REFERENCE, "abc")


def test_an_archive_in_the_cache_is_not_built_again(tmp_path: Path, context: Path) -> None:
    cache = tmp_path / "cache"
    final = cache / f"python-base-{BASE_VERSION}"
    final.mkdir(parents=True)
    metadata = {"reference": BASE_REFERENCE, "id": "abc", "version": BASE_VERSION, "packages": {}}
    (final / "base.json").write_text(json.dumps(metadata))
    (final / "python.oci.tar").write_bytes(b"")
    dockerfile = context / "images" / "app.Dockerfile"
    artifact = Artifact("app", context, dockerfile)
    tag = content_tag(context, dockerfile, artifact.ignorefile, "abc", {"PYTHON_IMAGE": BASE_REFERENCE})
    (cache / f"app-{tag}.tar").write_bytes(b"")
    (built,) = build_images([artifact], cache)  # would need buildah, were the archive missing
    assert (built.image, built.tag, built.archive) == ("app", tag, cache / f"app-{tag}.tar")
    assert not list(cache.glob(".buildah-*"))


def test_the_base_packages_versions_come_from_dpkgs_status(tmp_path: Path) -> None:
    status = b"Package: python3.11\nStatus: install ok installed\nVersion: 3.11.2-6\n\nPackage: gone\n"
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("./var/lib/dpkg/status")
        info.size = len(status)
        tar.addfile(info, io.BytesIO(status))
    assert base_module.installed_versions(rootfs, ("python3.11",)) == {"python3.11": "3.11.2-6"}
    with pytest.raises(ImagesError, match="lacks gone"):
        base_module.installed_versions(rootfs, ("python3.11", "gone"))


@pytest.mark.parametrize(
    ("repository", "stored"),
    [
        ("storesim", "docker.io/library/storesim:t"),
        ("team/storesim", "docker.io/team/storesim:t"),
        ("localhost/storesim", "localhost/storesim:t"),
        ("registry.example:5000/storesim", "registry.example:5000/storesim:t"),
    ],
)
def test_containerd_stores_the_name_kubelet_asks_for(repository: str, stored: str) -> None:
    assert cri_name(repository, "t") == stored


def test_the_result_is_the_charts_image_values() -> None:
    images = [
        BuiltImage("storesim", "t1", Path("a.tar")),
        BuiltImage("storesim-data-loader", "t2", Path("b")),
    ]
    assert references(images) == {
        "storesim": {"repository": "storesim", "tag": "t1"},
        "storesim-data-loader": {"repository": "storesim-data-loader", "tag": "t2"},
    }


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--bogus"], 2, "build-images: error: unrecognized arguments: --bogus"),
        (["--containerd-socket", "/x"], 2, "--containerd-socket is only used with --load"),
        (["--load", "--containerd-socket", "/nonexistent.sock"], 1, "no containerd socket at /nonexistent"),
    ],
)
def test_bad_usage_fails_with_one_line(args: list[str], code: int, message: str) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == code
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr
