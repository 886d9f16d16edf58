"""What `storesim simulate` shows: a progress bar in simulated time, and a summary at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from storesim._time import iso_utc
from storesim.embedded import Summary
from storesim.events import TOPICS, TRUTH

__all__ = ["print_summary", "progress_bar"]


@contextmanager
def progress_bar(window: tuple[int, int], *, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    first, end = window
    with Progress(
        TextColumn("[bold]simulating"),
        BarColumn(),
        TextColumn("{task.fields[clock]}"),
        TextColumn("{task.fields[events]:,} events"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("simulate", total=end - first, clock="", events=0)

        def update(written: int, ts: int) -> None:
            bar.update(task, completed=max(0, min(ts, end) - first), clock=iso_utc(ts)[:16], events=written)

        yield update


def print_summary(summary: Summary, where: dict[str, str], *, column: str = "file", note: str = "") -> None:
    """The events per topic and where they went (``where``: topic -> file or Kafka topic), then the
    run's figures and ``note``."""
    console = Console()
    table = Table(title=f"storesim simulate — seed {summary.seed}", title_justify="left")
    table.add_column("topic")
    table.add_column("events", justify="right")
    table.add_column(column)
    for topic in TOPICS:
        table.add_row(topic, f"{summary.events[topic]:,}", where.get(topic, ""))
    table.add_row("total", f"{sum(summary.events[topic] for topic in TOPICS):,}", "", style="bold")
    table.add_row("answer key (store-hours)", f"{summary.events[TRUTH]:,}", where.get(TRUTH, ""))
    console.print(table)
    console.print(
        f"sessions {summary.sessions:,} · checkouts {summary.checkouts:,} · "
        f"empty carts {summary.empty_sessions:,} · revenue {summary.revenue_cents / 100:,.2f} · "
        f"refunds {summary.refunds:,} ({summary.refunded_cents / 100:,.2f}) · "
        f"pending refunds {summary.pending_refunds:,}"
        + (f" · late shelf events {summary.rejected_shelf_events:,}" if summary.rejected_shelf_events else "")
        + (f" · events due after the end {summary.after_end:,}" if summary.after_end else "")
    )
    if note:
        console.print(note)
