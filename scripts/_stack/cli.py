"""`scripts/stack install|up|down|status [--only NAME,...]`: Kafka, a schema registry, Redis, PostgreSQL."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import probes, procs
from .config import HOST, Layout, log
from .install import install
from .services import SERVICES as DEFINITIONS
from .services import Service, StackError

T = TypeVar("T")


@dataclass(frozen=True)
class ServiceSet:
    """What one launcher manages: scripts/stack's services, or scripts/kube's control plane."""

    prog: str
    description: str
    install_help: str
    definitions: Mapping[str, Service]
    install: Callable[[Layout, Sequence[str]], None]
    address: Callable[[Layout, str], str]
    # Once the services asked for are up: writes the clients' settings, and says where (None: nothing to say).
    settings: Callable[[Layout, Sequence[str]], Path | None]
    in_order: bool = False  # start one by one in the definitions' order (stop in reverse), not all at once
    # Hooks of scripts/cluster, which changes the machine around its processes: before the first service
    # starts; before the first one stops (while all still run); after the last one stopped.
    layout: Callable[[Path], Layout] = Layout.load
    prepare: Callable[[Layout], None] | None = None
    before_stop: Callable[[Layout], None] | None = None
    after_stop: Callable[[Layout], None] | None = None


def _write_env(layout: Layout, names: Sequence[str]) -> Path:
    env_file = layout.state / "env"
    env_file.write_text("".join(f"{line}\n" for line in layout.env_lines()))
    return env_file


STACK = ServiceSet(
    prog="scripts/stack",
    description=__doc__ or "",
    install_help="download Kafka and Apicurio into the cache, apt-install Redis, PostgreSQL and Prometheus",
    definitions=DEFINITIONS,
    install=install,
    address=Layout.address,
    settings=_write_env,
)


def _in_turn(
    names: Sequence[str], work: Callable[[str], T], *, stop_at_failure: bool
) -> dict[str, T | BaseException]:
    """Runs `work(name)` for one name after the other; each result, or the exception it raised."""
    done: dict[str, T | BaseException] = {}
    for name in names:
        try:
            done[name] = work(name)
        except Exception as error:
            done[name] = error
            if stop_at_failure:
                break
    return done


def _in_parallel(names: Sequence[str], work: Callable[[str], T]) -> dict[str, T | BaseException]:
    """Runs `work(name)` for every name at once; each result, or the exception it raised."""
    with ThreadPoolExecutor(max_workers=max(len(names), 1)) as pool:
        futures = {name: pool.submit(work, name) for name in names}
    return {name: future.exception() or future.result() for name, future in futures.items()}


def _bring_up(layout: Layout, service: Service) -> str:
    """Starts `service` unless it already runs and answers; waits until it is ready. Says what it did."""
    pid = procs.recorded_pid(layout, service.name)
    if pid is not None and probes.quietly(lambda: service.ready(layout)):
        if service.finish is not None:
            service.finish(layout)
        return f"already running (pid {pid})"
    started = time.monotonic()
    if pid is None:
        procs.forget(layout, service.name)
        busy = [port for port in service.ports(layout) if probes.port_open(HOST, port)]
        if busy:
            raise StackError(
                f"{service.name}: port {', '.join(map(str, busy))} on {HOST} is taken by a process that this "
                "script did not start; stop it or choose other ports (STORESIM_*_PORT)"
            )
        process = service.launch(layout)
        pid = process.pid

        def gave_up() -> bool:
            return process.poll() is not None

    else:
        recorded = pid

        def gave_up() -> bool:
            return not procs.is_alive(recorded)

    if not probes.wait_until(lambda: service.ready(layout), service.deadline, give_up=gave_up):
        why = "exited" if gave_up() else f"was not ready within {service.deadline:.0f}s"
        if gave_up():
            procs.forget(layout, service.name)
        tail = procs.log_tail(layout, service.name)
        raise StackError(f"{service.name} {why}; last lines of {layout.log_file(service.name)}:\n{tail}")
    if service.finish is not None:
        service.finish(layout)
    return f"started in {time.monotonic() - started:.1f}s (pid {pid})"


def up(layout: Layout, names: Sequence[str], services: ServiceSet = STACK) -> int:
    services.install(layout, names)
    began = time.monotonic()
    if services.prepare is not None:
        services.prepare(layout)

    def bring_up(name: str) -> str:
        return _bring_up(layout, services.definitions[name])

    if services.in_order:  # a service after those it needs, and none after one that failed
        outcomes = _in_turn(names, bring_up, stop_at_failure=True)
    else:
        outcomes = _in_parallel(names, bring_up)
    failed = False
    for name, outcome in outcomes.items():
        if isinstance(outcome, BaseException):
            failed = True
            log(f"{name}: FAILED: {outcome}")
        else:
            log(f"{name}: {outcome}, {services.address(layout, name)}")
    if failed or len(outcomes) < len(names):
        log(f"some services did not start; `{services.prog} down` stops the others")
        return 1
    settings = services.settings(layout, names)
    log(f"ready in {time.monotonic() - began:.1f}s" + (f"; settings in {settings}" if settings else ""))
    return 0


def down(layout: Layout, names: Sequence[str], services: ServiceSet = STACK) -> int:
    def stop(name: str) -> str:
        service = services.definitions[name]
        return procs.stop(
            layout, name, first_signal=service.stop_signal, whole_group=service.stop_whole_group, timeout=30
        )

    failed = False
    if services.before_stop is not None:
        services.before_stop(layout)
    if services.in_order:  # the reverse of `up`'s order: a service stops before those it needs
        outcomes = _in_turn(list(reversed(names)), stop, stop_at_failure=False)
    else:
        outcomes = _in_parallel(names, stop)
    for name, outcome in outcomes.items():
        failed |= isinstance(outcome, BaseException)
        log(f"{name}: {outcome}")
    if services.after_stop is not None:
        services.after_stop(layout)
    return 1 if failed else 0


def _status(layout: Layout, name: str, services: ServiceSet) -> dict[str, Any]:
    pid = procs.recorded_pid(layout, name)
    answering = pid is not None and probes.quietly(lambda: services.definitions[name].ready(layout))
    state = "running" if answering else ("unresponsive" if pid is not None else "stopped")
    rss = procs.rss_mib(pid) if pid is not None else None
    address = services.address(layout, name)
    return {"name": name, "state": state, "pid": pid, "address": address, "rss_mib": rss}


def status(layout: Layout, names: Sequence[str], as_json: bool, services: ServiceSet = STACK) -> int:
    found = _in_parallel(names, lambda name: _status(layout, name, services))
    rows = [row for row in found.values() if isinstance(row, dict)]
    if as_json:
        print(json.dumps(rows, indent=2))
    width = max(9, *map(len, names))
    for row in [] if as_json else rows:
        rss = f"  rss {row['rss_mib']:.0f} MiB" if row["rss_mib"] is not None else ""
        print(f"{row['name']:<{width}} {row['state']:<12} pid {row['pid'] or '-':<8} {row['address']}{rss}")
    return 0 if len(rows) == len(names) and all(row["state"] == "running" for row in rows) else 3


def _services(known: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = sorted(set(names) - set(known))
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {','.join(known)} (got {text!r})")
        return [name for name in known if name in names]

    return parse


def main(argv: Sequence[str], repo: Path, services: ServiceSet = STACK) -> int:
    known = list(services.definitions)
    parser = argparse.ArgumentParser(prog=services.prog, description=services.description)
    commands = parser.add_subparsers(dest="command", required=True)
    for command, text in (
        ("install", services.install_help),
        ("up", "install if needed, start what is not running, wait until every service answers"),
        ("down", "stop the processes `up` started"),
        ("status", "one line per service; exit 0 only if all of them run and answer"),
    ):
        sub = commands.add_parser(command, help=text, description=text)
        sub.add_argument("--only", type=_services(known), default=known, help=f"e.g. {','.join(known[:2])}")
        if command == "status":
            sub.add_argument("--json", action="store_true", help="print the statuses as JSON")
    args = parser.parse_args(argv)
    layout = services.layout(repo)
    names: list[str] = args.only
    try:
        if args.command == "install":
            started = time.monotonic()
            services.install(layout, names)
            log(f"installed in {time.monotonic() - started:.1f}s")
            return 0
        if args.command == "up":
            return up(layout, names, services)
        if args.command == "down":
            return down(layout, names, services)
        return status(layout, names, args.json, services)
    except StackError as error:
        log(str(error))
        return 1
