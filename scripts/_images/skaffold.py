"""The images to build: skaffold.yaml's `build.artifacts` (image, context, docker.dockerfile and buildArgs).

PyYAML reads the file when it is importable (in the project's venv); without it (before any venv exists) a
reader of the block-style YAML subset that skaffold.yaml's build section is written in takes over, and
refuses anything outside that subset rather than guess.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ImagesError

_IMAGE_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*")
_ARTIFACT_KEYS = {"image", "context", "docker"}
_DOCKER_KEYS = {"dockerfile", "buildArgs"}


@dataclass(frozen=True)
class Artifact:
    """One image of skaffold.yaml: its name, build context and Dockerfile (absolute paths)."""

    image: str
    context: Path
    dockerfile: Path
    build_args: dict[str, str] = field(default_factory=dict)

    @property
    def ignorefile(self) -> Path | None:
        """What Docker reads: `<Dockerfile>.dockerignore` beside the Dockerfile, else the context's
        .dockerignore, else none."""
        for candidate in (Path(f"{self.dockerfile}.dockerignore"), self.context / ".dockerignore"):
            if candidate.is_file():
                return candidate
        return None


def read_artifacts(skaffold_yaml: Path) -> list[Artifact]:
    """The artifacts of `skaffold_yaml`'s build section, in the file's order."""
    try:
        text = skaffold_yaml.read_text()
    except OSError as error:
        raise ImagesError(f"cannot read {skaffold_yaml}: {error.strerror}") from None
    build = load_build_section(text)
    artifacts = build.get("artifacts") if isinstance(build, dict) else None
    if not isinstance(artifacts, list) or not artifacts:
        raise ImagesError(f"{skaffold_yaml}: build.artifacts is missing or empty")
    found = [_artifact(skaffold_yaml.parent, entry, skaffold_yaml) for entry in artifacts]
    names = [a.image for a in found]
    if len(set(names)) != len(names):
        raise ImagesError(f"{skaffold_yaml}: an image is listed twice in build.artifacts: {names}")
    return found


def load_build_section(text: str) -> Any:
    """skaffold.yaml's top-level `build` value, by PyYAML when importable, else by `parse_block_yaml`."""
    try:
        yaml: Any = importlib.import_module("yaml")
    except ImportError:
        return parse_block_yaml(_top_level_block(text, "build")).get("build")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ImagesError(f"skaffold.yaml is not valid YAML: {error}".splitlines()[0]) from None
    return document.get("build") if isinstance(document, dict) else None


def _artifact(root: Path, entry: Any, source: Path) -> Artifact:
    if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
        raise ImagesError(f"{source}: an artifact without an image name: {entry!r}")
    image = entry["image"]
    where = f"{source}: artifact {image}"
    if not _IMAGE_NAME.fullmatch(image):
        raise ImagesError(f"{where}: not a valid image name")
    docker = entry.get("docker", {})
    if not isinstance(docker, dict):
        raise ImagesError(f"{where}: docker is not a mapping")
    unknown = sorted(set(entry) - _ARTIFACT_KEYS) + sorted(set(docker) - _DOCKER_KEYS)
    if unknown:
        raise ImagesError(f"{where}: settings this builder does not support: {', '.join(unknown)}")
    context = (root / str(entry.get("context", "."))).resolve()
    dockerfile = (context / str(docker.get("dockerfile", "Dockerfile"))).resolve()
    if not dockerfile.is_file():
        raise ImagesError(f"{where}: no Dockerfile at {dockerfile}")
    args = docker.get("buildArgs", {})
    if not isinstance(args, dict):
        raise ImagesError(f"{where}: docker.buildArgs is not a mapping")
    return Artifact(image, context, dockerfile, {str(k): str(v) for k, v in args.items()})


# ---- the fallback reader: block mappings and sequences, plain and quoted scalars, `{}` and `[a, b]`.


def _top_level_block(text: str, key: str) -> str:
    """The lines of the top-level mapping entry `key:` (up to the next top-level key)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}\s*:", line)), None)
    if start is None:
        return ""
    end = start + 1
    while end < len(lines) and not re.match(r"[^\s#]", lines[end]):
        end += 1
    return "\n".join(lines[start:end])


def parse_block_yaml(text: str) -> dict[str, Any]:
    """A mapping written in block-style YAML's simple subset; ImagesError on anything else."""
    lines: list[tuple[int, str, int]] = []  # (indent, text, line number)
    for number, raw in enumerate(text.splitlines(), start=1):
        content = _strip_comment(raw).rstrip()
        if content.strip():
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                raise ImagesError(f"skaffold.yaml line {number}: a tab in the indentation")
            lines.append((len(content) - len(content.lstrip()), content.strip(), number))
    if not lines:
        return {}
    value, end = _node(lines, 0, lines[0][0])
    if end != len(lines) or not isinstance(value, dict):
        raise ImagesError(f"skaffold.yaml line {lines[min(end, len(lines) - 1)][2]}: unexpected indentation")
    return value


def _strip_comment(line: str) -> str:
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _node(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[Any, int]:
    return (_sequence if _is_item(lines[i][1]) else _mapping)(lines, i, indent)


def _sequence(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines) and lines[i][0] == indent and _is_item(lines[i][1]):
        rest = lines[i][1][1:].lstrip()
        if not rest:  # the item's value on the lines below
            if i + 1 < len(lines) and lines[i + 1][0] > indent:
                value, i = _node(lines, i + 1, lines[i + 1][0])
            else:
                value, i = None, i + 1
        elif re.match(r"[^'\"\[{][^:]*:(\s|$)", rest) or _is_item(rest):  # `- key: value`, a nested node
            inner = indent + len(lines[i][1]) - len(rest)
            value, i = _node([*lines[:i], (inner, rest, lines[i][2]), *lines[i + 1 :]], i, inner)
        else:
            value, i = _scalar(rest, lines[i][2]), i + 1
        items.append(value)
    return items, i


def _mapping(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[dict[str, Any], int]:
    mapping: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] == indent and not _is_item(lines[i][1]):
        _, text, number = lines[i]
        match = re.fullmatch(r"([^'\"\[{:][^:]*):(?:\s+(.*))?", text)
        if match is None:
            raise ImagesError(f"skaffold.yaml line {number}: expected `key: value`, got {text!r}")
        key, rest = match.group(1).strip(), match.group(2)
        if key in mapping:
            raise ImagesError(f"skaffold.yaml line {number}: {key} given twice")
        i += 1
        if rest:
            mapping[key] = _scalar(rest, number)
        elif i < len(lines) and (lines[i][0] > indent or (lines[i][0] == indent and _is_item(lines[i][1]))):
            mapping[key], i = _node(lines, i, lines[i][0])
        else:
            mapping[key] = None
    return mapping, i


def _scalar(text: str, number: int) -> Any:
    if text[0] in "&*!|>%@`":
        raise ImagesError(f"skaffold.yaml line {number}: YAML beyond the simple subset: {text!r}")
    if text[0] == '"':
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ImagesError(f"skaffold.yaml line {number}: a bad double-quoted string") from None
    if text[0] == "'":
        if len(text) < 2 or not text.endswith("'"):
            raise ImagesError(f"skaffold.yaml line {number}: a bad single-quoted string")
        return text[1:-1].replace("''", "'")
    if text == "{}":
        return {}
    if text.startswith("["):
        if not text.endswith("]") or any(c in text[1:-1] for c in "[]{}\"'"):
            raise ImagesError(f"skaffold.yaml line {number}: a flow sequence beyond the simple subset")
        return [_scalar(part.strip(), number) for part in text[1:-1].split(",") if part.strip()]
    if text.startswith("{"):
        raise ImagesError(f"skaffold.yaml line {number}: a flow mapping beyond the simple subset")
    return _plain(text)


def _plain(text: str) -> Any:
    if text in ("null", "~"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    return text
