"""Starting services in their own session, recording their PIDs, and stopping exactly those processes.

`.stack/pids/<name>.pid` holds the PID alone; `<name>.start` beside it holds the process's start time
(field 22 of /proc/PID/stat), so a PID reused by an unrelated process is never taken for ours.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .config import Layout


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its last ')'.
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields else None


def is_alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def spawn(
    layout: Layout,
    name: str,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Starts `argv` in a new session (its own process group), output appended to logs/<name>.log."""
    log_path = layout.log_file(name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    layout.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_handle:
        log_handle.write(f"\n=== stack: starting {name} at {time.strftime('%F %T')}\n".encode())
        log_handle.flush()
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    layout.pid_file(name).write_text(f"{process.pid}\n")
    layout.pid_file(name).with_suffix(".start").write_text(f"{start_time(process.pid) or ''}\n")
    return process


def recorded_pid(layout: Layout, name: str) -> int | None:
    """The PID in pids/<name>.pid if that very process (same start time) is still alive, else None."""
    pid_path = layout.pid_file(name)
    try:
        pid = int(pid_path.read_text().split()[0])
        expected = pid_path.with_suffix(".start").read_text().strip()
    except (OSError, ValueError, IndexError):
        return None
    if not is_alive(pid) or start_time(pid) != expected:
        return None
    return pid


def forget(layout: Layout, name: str) -> None:
    for path in (layout.pid_file(name), layout.pid_file(name).with_suffix(".start")):
        path.unlink(missing_ok=True)


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is still in process group `pgid`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
    return False


def stop(
    layout: Layout,
    name: str,
    *,
    first_signal: int = signal.SIGTERM,
    whole_group: bool = True,
    timeout: float = 30.0,
) -> str:
    """Stops the recorded process and its process group: `first_signal` (to the whole group, or to the
    leader alone when it shuts its children down itself), then SIGKILL to the group after `timeout`."""
    pid = recorded_pid(layout, name)
    if pid is None:
        forget(layout, name)
        return "not running"
    # The service leads its own session, so its process group id is its PID; signal only that group.
    group = pid if os.getpgid(pid) == pid else None
    if group is not None and whole_group:
        os.killpg(group, first_signal)
    else:
        os.kill(pid, first_signal)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (is_alive(pid) or (group is not None and _group_alive(group))):
        time.sleep(0.1)
    outcome = "stopped"
    if is_alive(pid) or (group is not None and _group_alive(group)):
        if group is not None:
            os.killpg(group, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
        outcome = f"killed (no exit {timeout:.0f}s after {signal.Signals(first_signal).name})"
    forget(layout, name)
    return outcome


def log_tail(layout: Layout, name: str, lines: int = 30) -> str:
    try:
        text = layout.log_file(name).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
