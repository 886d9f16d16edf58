"""What a build sees of its context, by Docker's .dockerignore rules, and the content tag of a build.

The rules are moby/patternmatcher's: each line a pattern cleaned like a path (`src/` is `src`, a leading
`/` dropped), `!` re-includes, `*` and `?` stop at a slash, `**` spans directories, a pattern that matches
a parent directory matches everything below it, and the last pattern that matches a path decides.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

TAG_SCHEME = "storesim-build-images/1"  # bump to change every tag when what goes into them changes
TAG_LENGTH = 16


@dataclass(frozen=True)
class _Pattern:
    text: str
    parts: tuple[str, ...]
    regex: re.Pattern[str]
    exception: bool

    def matches(self, path: str) -> bool:
        """Whether the pattern matches `path` or one of its parent directories."""
        if self.regex.match(path):
            return True
        parents = path.split("/")[:-1]
        return any(self.regex.match("/".join(parents[: n + 1])) for n in range(len(parents)))

    def may_match_below(self, directory: str) -> bool:
        """Whether some path strictly below `directory` could match (conservative: True when unsure)."""
        below = directory.split("/")
        for n, part in enumerate(self.parts):
            if "**" in part:
                return True
            if n == len(below):
                return True
            if not _part_regex(part).fullmatch(below[n]):
                return False
        return False


def _part_regex(part: str) -> re.Pattern[str]:
    return re.compile(_translate(part)[1:-1])


def _translate(pattern: str) -> str:
    """moby/patternmatcher's pattern → regular expression."""
    out, i = ["^"], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 1
                if pattern[i + 1 : i + 2] == "/":
                    i += 1
                out.append(".*" if i + 1 == len(pattern) else "(.*/)?")
            else:
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                out.append(pattern[i : end + 1])  # a character class, as Go's regexp reads it
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    out.append("$")
    return "".join(out)


class IgnoreRules:
    """The patterns of one .dockerignore file."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._patterns: list[_Pattern] = []
        for line in patterns:
            exception = line.startswith("!")
            text = line[1:].strip() if exception else line
            if not text:
                continue
            text = posixpath.normpath(text)
            if len(text) > 1 and text.startswith("/"):
                text = text.lstrip("/")
            parts = tuple(text.split("/"))
            self._patterns.append(_Pattern(text, parts, re.compile(_translate(text)), exception))

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        lines = (line.strip() for line in text.removeprefix("\ufeff").splitlines())
        return cls(line for line in lines if line and not line.startswith("#"))

    @classmethod
    def read(cls, path: Path | None) -> IgnoreRules:
        return cls() if path is None else cls.parse(path.read_text())

    def excluded(self, path: str) -> bool:
        """Whether `path` (relative to the context, with slashes) stays out of the build."""
        decision = False
        for pattern in self._patterns:
            if decision != pattern.exception:  # could not change the decision
                continue
            if pattern.matches(path):
                decision = not pattern.exception
        return decision

    def prunes(self, directory: str) -> bool:
        """Whether nothing below the excluded `directory` can be included again: no need to walk it."""
        return self.excluded(directory) and not any(
            p.may_match_below(directory) for p in self._patterns if p.exception
        )


def context_entries(context: Path, rules: IgnoreRules) -> list[str]:
    """The paths (relative, with slashes; directories end in `/`) of the context that the build sees."""
    seen: list[str] = []
    for top, dirs, files in os.walk(context):
        base = Path(top).relative_to(context).as_posix()
        prefix = "" if base == "." else f"{base}/"
        kept = []
        for name in sorted(dirs):
            path = prefix + name
            if (context / path).is_symlink():
                files.append(name)  # copied as the link it is, never followed
            elif not rules.prunes(path):
                kept.append(name)
                if not rules.excluded(path):
                    seen.append(f"{path}/")
        dirs[:] = kept
        seen.extend(prefix + name for name in files if not rules.excluded(prefix + name))
    return sorted(seen)


def content_tag(
    context: Path,
    dockerfile: Path,
    ignorefile: Path | None,
    base_id: str,
    build_args: Mapping[str, str] | None = None,
) -> str:
    """A tag that changes exactly when the build's inputs do: the Dockerfile, the ignore file, every file of
    the context that it lets in (path, content, executable bit, or link target), the build arguments and
    the base image's id."""
    digest = hashlib.sha256()

    def feed(*chunks: bytes) -> None:
        for chunk in chunks:
            digest.update(len(chunk).to_bytes(8, "big") + chunk)

    feed(TAG_SCHEME.encode(), base_id.encode(), dockerfile.read_bytes())
    feed(ignorefile.read_bytes() if ignorefile is not None else b"")
    feed(json.dumps(dict(build_args or {}), sort_keys=True).encode())
    for entry in context_entries(context, IgnoreRules.read(ignorefile)):
        path = context / entry
        info = path.lstat()
        if entry.endswith("/"):
            feed(b"d", entry.encode())
        elif stat.S_ISLNK(info.st_mode):
            feed(b"l", entry.encode(), os.readlink(path).encode())
        else:
            feed(b"f", entry.encode(), b"x" if info.st_mode & 0o111 else b"-", _file_digest(path))
    return digest.hexdigest()[:TAG_LENGTH]


def _file_digest(path: Path) -> bytes:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").digest()
