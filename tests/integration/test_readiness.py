"""/readyz follows the dependencies: false while Redis or the registry is away, true again by itself.

This test stops and restarts parts of the shared stack, so it runs after the chain tests (file order)
and leaves the stack as it found it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.integration.chain import Chain, Service
from tests.integration.conftest import STACK
from tests.integration.helpers import readyz, wait_until
from tests.integration.runs import backfill


def wait_for_status(service: Service, wanted: int, deadline_seconds: float) -> bool:
    """Polls /readyz; a crash of the service ends the wait at once."""
    return wait_until(lambda: readyz(service.port) == wanted, service.process, deadline_seconds, 0.2)


def stack_command(*args: str) -> None:
    result = subprocess.run([str(STACK), *args], capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr


def test_readiness_follows_redis_and_the_registry(stack: dict[str, str], tmp_path: Path) -> None:
    chain = Chain(stack, tmp_path, tmp_path, {**backfill("1"), "CLOCK_MODE": "paced", "TIME_SCALE": "1"})
    try:
        chain.start("clock")
        (service,) = chain.start("foot-traffic")
        chain.wait_ready()
        for dependency in ("redis", "registry"):
            stack_command("down", "--only", dependency)
            try:
                assert wait_for_status(service, 503, 30), f"still ready without {dependency}"
            finally:
                stack_command("up", "--only", dependency)
            assert wait_for_status(service, 200, 60), f"not ready again after {dependency} came back"
            assert service.process.poll() is None, chain.describe(service)
    finally:
        codes = chain.stop()
    assert codes == {"clock": [0], "foot-traffic": [0]}
