"""A Store's status as the controller wants it, and the merge patch that gets it there (or none).

Pure, so that "no needless writes" is a property of a function: the desired status is computed from the
verdict, the last Prometheus figures and the status the API server holds, and a patch is sent only when
it differs. Conditions follow metav1.Condition: lastTransitionTime moves only when a condition's status
changes, not when its message or reason does. The list is sent whole (a JSON merge patch replaces lists).

Ready says whether the spec at observedGeneration is in the stores ConfigMap. Degraded says whether the
store is seen simulating: its figures reached Prometheus (False, Simulating), not yet (True, NoEvents),
Prometheus could not be asked (True, MetricsUnavailable: the figures last seen are kept, not erased), or
there is no Prometheus to ask (False, MetricsNotConfigured). A Store that is not in the file gets Ready
False and neither Degraded nor figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storesim.operator._prometheus import MetricsState, StoreFigures
from storesim.operator._reconcile import StoreObject, Verdict

__all__ = [
    "DEGRADED",
    "FIGURE_FIELDS",
    "READY",
    "Condition",
    "conditions",
    "desired_status",
    "status_patch",
    "with_times",
]

READY = "Ready"
DEGRADED = "Degraded"
FIGURE_FIELDS = ("sessionsToday", "revenueToday", "lastEventTime")
_MESSAGE_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str


def _time(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def conditions(verdict: Verdict, metrics: MetricsState, generation: int, configmap: str) -> list[Condition]:
    """Ready, and for a Store in the file Degraded, without times."""
    if verdict.spec is None:
        return [Condition(READY, "False", verdict.reason, verdict.message)]
    store_id = verdict.spec.store_id
    ready = Condition(READY, "True", "Reconciled", f"Generation {generation} is in ConfigMap {configmap}.")
    if not metrics.configured:
        degraded = Condition(DEGRADED, "False", "MetricsNotConfigured", "PROMETHEUS_URL is not set.")
    elif metrics.error is not None:
        message = f"Prometheus did not answer: {metrics.error}"[:_MESSAGE_LIMIT]
        degraded = Condition(DEGRADED, "True", "MetricsUnavailable", message)
    elif store_id in metrics.figures:
        degraded = Condition(
            DEGRADED, "False", "Simulating", f"Prometheus has today's figures of {store_id}."
        )
    else:
        degraded = Condition(DEGRADED, "True", "NoEvents", f"Prometheus has no events of {store_id} yet.")
    return [ready, degraded]


def with_times(
    wanted: list[Condition], existing: list[Mapping[str, Any]], generation: int, now: datetime
) -> list[dict[str, Any]]:
    before = {str(c.get("type")): c for c in existing if isinstance(c, Mapping)}
    out = []
    for condition in wanted:
        previous = before.get(condition.type)
        same = previous is not None and previous.get("status") == condition.status
        since = previous.get("lastTransitionTime") if same and previous is not None else None
        out.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "lastTransitionTime": since or _time(now),
                "observedGeneration": generation,
            }
        )
    return out


def desired_status(
    store: StoreObject, verdict: Verdict, metrics: MetricsState, configmap: str, now: datetime
) -> dict[str, Any]:
    """Every status field the controller owns; None for a figure that should not be there."""
    current = store.status
    figures: dict[str, Any]
    if verdict.spec is None or not metrics.configured:
        figures = StoreFigures().to_status()
    elif metrics.error is not None:
        figures = {name: current.get(name) for name in FIGURE_FIELDS}
    else:
        figures = metrics.figures.get(verdict.spec.store_id, StoreFigures()).to_status()
    existing = current.get("conditions") or []
    return {
        "observedGeneration": store.generation,
        "conditions": with_times(
            conditions(verdict, metrics, store.generation, configmap), existing, store.generation, now
        ),
        **figures,
    }


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fields of `desired` that differ from `current` (None removes one), or None when none do."""
    patch = {key: value for key, value in desired.items() if current.get(key) != value}
    return patch or None
