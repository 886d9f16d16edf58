"""What the cluster changes on the machine, and how `down` puts all of it back.

`prepare` records the machine as it was (host.json: sysctls the kubelet and the CNI bridge change, and which
shared directories and cgroups existed) before it changes anything, and adds the node address to `lo` and
the guard: a mangle POSTROUTING jump, on every interface that is not `lo`, to a chain that drops packets from
or to the cluster's ranges, so that nothing of the cluster leaves the machine. `restore` undoes it all from
that record: mounts, iptables rules of the cluster's chains, the bridge, the address, cgroups, sysctls.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from _stack.config import Layout, log

from .config import BRIDGE, CLUSTER_RANGE, GUARD_CHAIN, NODE_IP, NODE_RANGE, RUN_DIR, SERVICE_RANGE

SYSCTLS = ("net/ipv4/ip_forward", "vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
# Made by containerd 1.6, the CNI plugins and the kubelet whatever their configured roots say.
SHARED_DIRS = (Path("/run/containerd"), Path("/run/netns"), Path("/var/lib/cni"))
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_DIRS = ("kubepods", "k8s.io")
# Chains the cluster's components create: kube-proxy's and the kubelet's (KUBE-), the CNI plugins' (CNI-),
# our guard (STORESIM-).
CHAIN_PREFIXES = ("KUBE-", "CNI-", "STORESIM-")
GUARDED = (("-s", CLUSTER_RANGE), ("-d", CLUSTER_RANGE), ("-d", SERVICE_RANGE), ("-d", NODE_RANGE))


def _record_path(layout: Layout) -> Path:
    return layout.state / "host.json"


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"cluster: {' '.join(argv)} failed: {done.stderr.strip()}")
    return done


def _sysctl(name: str) -> str:
    return Path("/proc/sys", name).read_text().strip()


def _cgroup_hierarchies() -> list[Path]:
    """The cgroup hierarchies, each a directory under /sys/fs/cgroup (not symlinks): the v1 ones (cpu,
    memory, ...) and the cgroup2 one at unified/, where the kubelet makes its kubepods too."""
    return sorted(p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink())


def outside_interfaces() -> list[str]:
    """Every interface but loopback and the cluster's own (its bridge and the pods' veth ends)."""
    names = [entry.name for entry in Path("/sys/class/net").iterdir()]
    return sorted(n for n in names if n != "lo" and n != BRIDGE and not n.startswith("veth"))


def prepare(layout: Layout) -> None:
    record = _record_path(layout)
    if not record.exists():  # a run that did not get to `down` keeps the first record: the machine as it was
        layout.state.mkdir(parents=True, exist_ok=True)
        state = {
            "sysctls": {name: _sysctl(name) for name in SYSCTLS},
            "existing_dirs": [str(path) for path in SHARED_DIRS if path.exists()],
            "existing_cgroups": [
                str(h / name) for h in _cgroup_hierarchies() for name in CGROUP_DIRS if (h / name).exists()
            ],
            "guarded_interfaces": outside_interfaces(),
        }
        partial = record.with_suffix(".partial")
        partial.write_text(json.dumps(state, indent=2))
        partial.rename(record)
    state = json.loads(record.read_text())
    if NODE_IP not in _run(["ip", "-o", "addr", "show", "dev", "lo"]).stdout:
        _run(["ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo"])
    if _run(["iptables", "-t", "mangle", "-L", GUARD_CHAIN, "-n"], check=False).returncode != 0:
        _run(["iptables", "-t", "mangle", "-N", GUARD_CHAIN])
        for flag, cidr in GUARDED:
            _run(["iptables", "-t", "mangle", "-A", GUARD_CHAIN, flag, cidr, "-j", "DROP"])
        for interface in state["guarded_interfaces"]:
            _run(["iptables", "-t", "mangle", "-I", "POSTROUTING", "1", "-o", interface, "-j", GUARD_CHAIN])
    RUN_DIR.mkdir(parents=True, exist_ok=True)


def guard_packets() -> int:
    """Packets the guard has dropped: the cluster's traffic that tried to leave the machine (must stay 0)."""
    listed = _run(["iptables", "-t", "mangle", "-L", GUARD_CHAIN, "-v", "-x", "-n"])
    rows = [line.split() for line in listed.stdout.splitlines()[2:] if line.strip()]
    return sum(int(row[0]) for row in rows)


def mounts_under(roots: Sequence[Path]) -> list[Path]:
    """Mount points at or below any of `roots`, deepest first (the order to unmount them in)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].replace("\\040", " "))
        if any(point == root or root in point.parents for root in roots):
            found.append(point)
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _unmount(roots: Sequence[Path]) -> None:
    for point in mounts_under(roots):
        if _run(["umount", str(point)], check=False).returncode != 0:
            _run(["umount", "-l", str(point)], check=False)


def _remove_chains() -> None:
    """Deletes the jumps from built-in chains into the cluster's chains, then those chains, in every table."""
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle", "raw"):
            rules = _run([tool, "-t", table, "-S"], check=False).stdout.splitlines()
            ours = {
                r.split()[1] for r in rules if r.startswith("-N ") and r.split()[1].startswith(CHAIN_PREFIXES)
            }
            for rule in rules:
                words = rule.split()
                jumps_to_ours = "-j" in words and words[words.index("-j") + 1] in ours
                if rule.startswith("-A ") and words[1] not in ours and jumps_to_ours:
                    _run([tool, "-t", table, "-D", *words[1:]], check=False)
            for chain in ours:
                _run([tool, "-t", table, "-F", chain], check=False)
            for chain in ours:
                _run([tool, "-t", table, "-X", chain], check=False)


def _remove_cgroups(existing: set[str]) -> None:
    for hierarchy in _cgroup_hierarchies():
        for name in CGROUP_DIRS:
            top = hierarchy / name
            if str(top) in existing or not top.exists():
                continue
            for directory in [*sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True), top]:
                if directory.is_dir():
                    try:
                        directory.rmdir()
                    except OSError as error:
                        log(f"cluster: could not remove cgroup {directory}: {error}")


def restore(layout: Layout, kube_proxy: Path | None) -> None:
    """Puts the machine back as prepare() found it; safe to run again, and when nothing was prepared."""
    record = _record_path(layout)
    state = json.loads(record.read_text()) if record.exists() else None
    netns = sorted(Path("/run/netns").glob("cni-*")) if Path("/run/netns").exists() else []
    _unmount([layout.state, RUN_DIR, *netns])
    for path in netns:
        path.unlink(missing_ok=True)
    if kube_proxy is not None and kube_proxy.exists():
        _run([str(kube_proxy), "--cleanup"], check=False)
    _remove_chains()
    if Path("/sys/class/net", BRIDGE).exists():
        _run(["ip", "link", "delete", BRIDGE], check=False)
    if NODE_IP in _run(["ip", "-o", "addr", "show", "dev", "lo"]).stdout:
        _run(["ip", "addr", "del", f"{NODE_IP}/32", "dev", "lo"], check=False)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    if state is None:
        return
    _remove_cgroups(set(state["existing_cgroups"]))
    for name, value in state["sysctls"].items():
        if _sysctl(name) != value:
            Path("/proc/sys", name).write_text(f"{value}\n")
    for path in SHARED_DIRS:
        if str(path) not in state["existing_dirs"] and path.exists():
            _unmount([path])
            shutil.rmtree(path, ignore_errors=True)
    record.unlink()


def require_root() -> None:
    if os.geteuid() != 0:
        raise SystemExit("cluster: needs root (network namespaces, iptables, mounts, cgroups)")
