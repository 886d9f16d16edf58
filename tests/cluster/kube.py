"""kubectl and helm against the test cluster, as a person would type them, and waits with deadlines."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"


@dataclass(frozen=True)
class Cluster:
    """The running one-node cluster: its kubeconfig and the kubectl built with it."""

    kubeconfig: Path
    kubectl_binary: Path
    helm_binary: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, timeout: float = 120, stdin: str | None = None) -> str:
        """kubectl's output; a failure fails the test with kubectl's own words."""
        done = self.try_kubectl(*args, timeout=timeout, stdin=stdin)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr.strip()}"
        return done.stdout

    def try_kubectl(
        self, *args: str, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.kubectl_binary), *args]
        return subprocess.run(
            argv, env=self.env(), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )

    def get(self, *args: str) -> dict[str, Any]:
        """`kubectl get ... -o json`, parsed."""
        parsed: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json"))
        return parsed

    def helm(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        argv = [str(self.helm_binary), *args]
        return subprocess.run(
            argv, env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
        )


def wait_for(
    condition: Callable[[], bool], deadline_seconds: float, what: str, interval: float = 1.0
) -> None:
    """Polls ``condition`` (the integration tests' wait_until) until it holds; past the deadline the test
    fails, saying what it waited for."""
    assert wait_until(condition, None, deadline_seconds, interval), (
        f"not within {deadline_seconds:.0f}s: {what}"
    )
