"""`storesim run controller`: turns the namespace's Store and Scenario resources into the ConfigMap that the
simulators run (stores.json, scenarios.json), and reports each Store's state and today's figures, and each
Scenario's phase, in their status.

One thread, one loop, because the order of things is the whole point: elect or renew, then (as leader)
reconcile and wait for a change with a watch that lasts at most RETRY_PERIOD, so that the next renewal
is never late by more than one reconcile. The watch starts from the resourceVersion of the list (and of
each event), so no change between two watches is missed; a 410 Gone (history compacted) relists, and a
504 (the API server's watch cache lagging the version asked for) watches again from the same version.

Scenarios are listed once per renewal, not watched: they change rarely, a change reaches the simulators
within RETRY_PERIOD, and a second watch would need a second thread beside the one whose order is the point.
A change is applied when the listing's resourceVersions differ from the last one's.

Readiness is "the API server answered the last request", leader or not: a follower is a ready spare. An
unreachable API server makes the controller not ready and keeps it trying; it never exits for that.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client, watch
from prometheus_client import CollectorRegistry, Counter, Gauge

from storesim.operator._crd import GROUP, PLURAL, VERSION
from storesim.operator._kube import ApiException, api_client, is_transient
from storesim.operator._lease import KubeLease, LeaderElector
from storesim.operator._outputs import SCENARIOS_KEY, STORES_KEY, ConfigMapWriter, write_file_atomically
from storesim.operator._prometheus import NOT_CONFIGURED, FiguresPoller, MetricsState
from storesim.operator._reconcile import StoreObject, plan
from storesim.operator._scenario_crd import SCENARIO_PHASES, SCENARIO_PLURAL
from storesim.operator._scenarios import ScenarioObject, plan_scenarios, scenario_status
from storesim.operator._status import desired_status, status_patch
from storesim.services._runtime import ServiceRuntime
from storesim.settings import ControllerSettings
from storesim.world import StoreCatalogue

__all__ = ["ControllerMetrics", "StoreController", "run_controller"]

MERGE_PATCH = "application/merge-patch+json"
# The leader lists the Stores and reads the ConfigMap afresh this often: a ConfigMap edited or deleted by
# hand is put back within it, and nothing a watch could have missed outlives it.
RESYNC_SECONDS = 60.0


@dataclass
class ControllerMetrics:
    """storesim_controller_*: leadership, reconcile outcomes and the writes they caused."""

    registry: CollectorRegistry

    def __post_init__(self) -> None:
        r = self.registry
        self.leader = Gauge("storesim_controller_leader", "1 while this replica holds the lease.", registry=r)
        self.reconciles = Counter(
            "storesim_controller_reconciles",
            "Reconcile passes, by outcome (ok, error).",
            ["outcome"],
            registry=r,
        )
        self.configmap_writes = Counter(
            "storesim_controller_configmap_writes", "Writes of the stores ConfigMap.", registry=r
        )
        self.status_patches = Counter(
            "storesim_controller_status_patches",
            "Status patches of Stores, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.stores = Gauge(
            "storesim_controller_stores",
            "Stores in the namespace, by verdict (ready, rejected).",
            ["state"],
            registry=r,
        )
        for outcome in ("ok", "error"):
            self.reconciles.labels(outcome)
            self.status_patches.labels(outcome)
        self.scenarios = Gauge(
            "storesim_controller_scenarios",
            "Scenarios in the namespace, by phase (Scheduled, Active, Finished, Invalid).",
            ["phase"],
            registry=r,
        )
        for state in ("ready", "rejected"):
            self.stores.labels(state)
        for phase in SCENARIO_PHASES:
            self.scenarios.labels(phase)


class StoreController:
    def __init__(self, settings: ControllerSettings, runtime: ServiceRuntime, api: client.ApiClient) -> None:
        self.settings = settings
        self.runtime = runtime
        self.log = runtime.log.bind(namespace=settings.namespace, identity=settings.pod_name)
        self.metrics = ControllerMetrics(runtime.metrics.registry)
        retry = float(settings.retry_period_seconds)
        # Connect within a retry period; an answer within the renew deadline (a slower one is no use).
        self._timeout = (retry, float(settings.renew_deadline_seconds))
        self._api = api
        self._custom = client.CustomObjectsApi(api)
        self._configmap = ConfigMapWriter(
            client.CoreV1Api(api), settings.namespace, settings.stores_configmap, self._timeout
        )
        lease = KubeLease(api, settings.namespace, settings.lease_name, self._timeout)
        self.elector = LeaderElector(
            lease, settings.pod_name, settings.lease_duration_seconds, settings.renew_deadline_seconds
        )
        self._leading = False
        self._answered: bool | None = None  # None until the first request: not ready
        self._stores: dict[str, dict[str, Any]] | None = None  # name → resource, while leading
        self._scenarios: dict[str, dict[str, Any]] = {}  # name → resource, as last listed
        self._version = ""
        self._resync_at = 0.0
        self._poller: FiguresPoller | None = None
        if settings.prometheus_url is not None:
            interval = settings.status_interval_seconds
            self._poller = FiguresPoller(
                settings.prometheus_url,
                settings.namespace,
                interval,
                min(interval, 5.0),
                self._figures_changed,
            )
        self._prometheus_up: bool | None = None
        self._figures_seen = -1  # the poller's version that the Stores' status last reflected
        runtime.health.add_ping("kube-apiserver", lambda: self._answered is True)

    # --- the loop -------------------------------------------------------------------------------------

    def run(self) -> int:
        if self._poller is not None:
            self._poller.start()
        try:
            while not self.runtime.stopping.is_set():
                try:
                    self._step()
                except Exception as exc:
                    if not (is_transient(exc) or isinstance(exc, ApiException)):
                        raise  # a bug, not the API server: crash loudly
                    self._failed(exc)
                    self.runtime.wait(self.settings.retry_period_seconds)
        finally:
            self._stop()
        return 0

    def _failed(self, exc: Exception) -> None:
        """No answer, or a refusal (403: the Role is missing a rule; 404: the CRD is not installed): not
        ready, and everything read so far is suspect. Said once per outage, not every retry."""
        if self._answered is not False:
            if is_transient(exc):
                self.log.warning("api server unavailable", error=_short(exc))
            else:
                self.log.error("api server refused a request", error=_short(exc))
        self._answered = False
        self._stores = None  # relist once it answers again: events may have been missed

    def _step(self) -> None:
        self._elect()
        if not self._leading:
            self.runtime.wait(self.settings.retry_period_seconds)
            return
        if time.monotonic() >= self._resync_at:
            self._stores = None
            self._configmap.forget()
        scenarios_changed = self._list_scenarios()
        if self._stores is None:
            self._relist()
            self._resync_at = time.monotonic() + RESYNC_SECONDS
            self._reconcile()
        elif scenarios_changed or (self._poller is not None and self._poller.version != self._figures_seen):
            self._reconcile()
        self._watch()

    def _elect(self) -> None:
        was = self._leading
        try:
            self.elector.try_acquire_or_renew()
            if self._answered is False:
                self.log.info("api server answers again")
            self._answered = True
        finally:
            self._leading = self.elector.is_leader
            self.metrics.leader.set(1 if self._leading else 0)
            if self._leading and not was:
                self.log.info("acquired leadership", lease=self.settings.lease_name)
                self._stores = None
                self._configmap.forget()
            elif was and not self._leading:
                holder = self.elector.observed_holder
                taken = holder is not None and holder != self.settings.pod_name
                self.log.warning(
                    "lost leadership",
                    lease=self.settings.lease_name,
                    reason=f"taken by {holder}" if taken else "no renewal within the renew deadline",
                )
                self._stores = None

    def _stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()
        try:
            if self.elector.release():
                self.log.info("released leadership", lease=self.settings.lease_name)
        except Exception as exc:
            if not is_transient(exc) and not isinstance(exc, ApiException):
                raise
            self.log.warning("could not release the lease", error=_short(exc))
        self.metrics.leader.set(0)

    # --- reading the Stores ---------------------------------------------------------------------------

    def _relist(self) -> None:
        listing: dict[str, Any] = cast(
            dict[str, Any],
            self._custom.list_namespaced_custom_object(
                GROUP, VERSION, self.settings.namespace, PLURAL, _request_timeout=self._timeout
            ),
        )
        self._stores = {item["metadata"]["name"]: item for item in listing.get("items", [])}
        self._version = str(listing["metadata"]["resourceVersion"])

    def _list_scenarios(self) -> bool:
        """The namespace's Scenarios; True when any was created, changed (or its status) or deleted."""
        listing: dict[str, Any] = cast(
            dict[str, Any],
            self._custom.list_namespaced_custom_object(
                GROUP, VERSION, self.settings.namespace, SCENARIO_PLURAL, _request_timeout=self._timeout
            ),
        )
        listed = {item["metadata"]["name"]: item for item in listing.get("items", [])}

        def versions(items: dict[str, dict[str, Any]]) -> dict[str, str]:
            return {name: str(item["metadata"].get("resourceVersion")) for name, item in items.items()}

        changed = versions(listed) != versions(self._scenarios)
        self._scenarios = listed
        return changed

    def _events(self, seconds: int) -> Iterator[dict[str, Any]]:
        # The client's watch module is untyped: its events are dicts, custom objects' are dicts too.
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        events: Iterator[dict[str, Any]] = stream.stream(  # type: ignore[no-untyped-call]
            self._custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.settings.namespace,
            PLURAL,
            resource_version=self._version,
            timeout_seconds=seconds,
            allow_watch_bookmarks=True,
            _request_timeout=(self._timeout[0], seconds + self._timeout[1]),
        )
        try:
            yield from events
        finally:
            stream.stop()  # type: ignore[no-untyped-call]

    def _watch(self) -> None:
        """Apply changes as they come, reconciling after each, until the next renewal is due."""
        period = self.settings.retry_period_seconds
        renew_at = time.monotonic() + period
        try:
            for event in self._events(period):
                kind, resource = event["type"], event["object"]
                if isinstance(resource, dict):
                    self._version = str(resource.get("metadata", {}).get("resourceVersion") or self._version)
                if kind != "BOOKMARK" and self._stores is not None and isinstance(resource, dict):
                    name = resource["metadata"]["name"]
                    if kind == "DELETED":
                        self._stores.pop(name, None)
                    else:
                        self._stores[name] = resource
                    self._reconcile()
                if (
                    self.runtime.stopping.is_set()
                    or time.monotonic() >= renew_at
                    or not self.elector.is_leader
                ):
                    break
        except ApiException as exc:
            if exc.status == 504:  # the watch cache had not reached the version yet: watch again from it
                self.log.info("watch cache behind, watching again", resource_version=self._version)
                return
            if exc.status != 410:
                raise
            self.log.info("watch expired, listing again", resource_version=self._version)
            self._stores = None

    # --- acting ---------------------------------------------------------------------------------------

    def _figures_changed(self, state: MetricsState) -> None:
        """Called from the poller's thread: say when Prometheus goes away or comes back, not every time."""
        up = state.error is None
        if up != self._prometheus_up:
            if up:
                self.log.info("prometheus answers", stores_with_figures=sorted(state.figures))
            else:
                self.log.warning("prometheus unavailable", error=state.error)
        self._prometheus_up = up

    def _metrics(self) -> MetricsState:
        if self._poller is None:
            return NOT_CONFIGURED
        self._figures_seen = self._poller.version
        return self._poller.state

    def _reconcile(self) -> None:
        """The files of every valid Store and Scenario into the ConfigMap (and STORES_FILE, SCENARIO_FILE),
        then each Store's and Scenario's status."""
        if not self.elector.is_leader or self._stores is None:
            return
        metrics = self._metrics()
        stores = [StoreObject.from_resource(resource) for resource in self._stores.values()]
        decided = plan(stores)
        scenarios = [ScenarioObject.from_resource(resource) for resource in self._scenarios.values()]
        scenario_plan = plan_scenarios(scenarios)
        try:
            if self._configmap.write({STORES_KEY: decided.text, SCENARIOS_KEY: scenario_plan.text}):
                self.metrics.configmap_writes.inc()
                self.log.info(
                    "configmap written",
                    configmap=self._configmap.name,
                    stores=decided.store_ids,
                    scenarios=scenario_plan.names,
                )
        except ApiException as exc:
            if is_transient(exc):
                raise
            self.metrics.reconciles.labels("error").inc()
            self.log.error("configmap not written", configmap=self._configmap.name, error=_short(exc))
            return
        self._write_files(decided.text, decided.store_ids, scenario_plan.text, scenario_plan.names)
        ready = sum(1 for verdict in decided.verdicts.values() if verdict.accepted)
        self.metrics.stores.labels("ready").set(ready)
        self.metrics.stores.labels("rejected").set(len(decided.verdicts) - ready)
        failed = False
        now = datetime.now(UTC)
        for store in stores:
            verdict = decided.verdicts[store.name]
            wanted = desired_status(store, verdict, metrics, self._configmap.name, now)
            patch = status_patch(store.status, wanted)
            if patch is not None and not self._patch_status(PLURAL, store.name, patch):
                failed = True
        catalogue = StoreCatalogue.of_specs(v.spec for v in decided.verdicts.values() if v.spec is not None)
        simulated = {
            store_id: int(datetime.fromisoformat(figures.last_event_time).timestamp())
            for store_id, figures in metrics.figures.items()
            if figures.last_event_time is not None
        }
        phases = dict.fromkeys(SCENARIO_PHASES, 0)
        for scenario in scenarios:
            wanted = scenario_status(
                scenario, scenario_plan, catalogue.values(), simulated, self._configmap.name, now
            )
            phases[wanted["phase"]] += 1
            patch = status_patch(scenario.status, wanted)
            if patch is not None and not self._patch_status(SCENARIO_PLURAL, scenario.name, patch):
                failed = True
        for phase, count in phases.items():
            self.metrics.scenarios.labels(phase).set(count)
        self.metrics.reconciles.labels("error" if failed else "ok").inc()

    def _write_files(self, stores: str, store_ids: list[str], scenarios: str, names: list[str]) -> None:
        """A plain process's files, scenarios first: a simulator that finds the stores file finds the
        scenarios it runs with already there."""
        path = self.settings.scenario_file
        if path is not None and write_file_atomically(path, scenarios):
            self.log.info("scenario file written", path=str(path), scenarios=names)
        path = self.settings.stores_file
        if path is not None and write_file_atomically(path, stores):
            self.log.info("stores file written", path=str(path), stores=store_ids)

    def _patch_status(self, plural: str, name: str, patch: dict[str, Any]) -> bool:
        if not self.elector.is_leader:
            return False
        try:
            updated = self._custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                self.settings.namespace,
                plural,
                name,
                {"status": patch},
                _content_type=MERGE_PATCH,
                _request_timeout=self._timeout,
            )
        except ApiException as exc:
            if is_transient(exc):
                raise
            if exc.status == 404:  # deleted meanwhile: its DELETED event is on its way
                return True
            self.metrics.status_patches.labels("error").inc()
            self.log.error("status not patched", resource=f"{plural}/{name}", error=_short(exc))
            return False
        self.metrics.status_patches.labels("ok").inc()
        # So the next pass compares with what the server now holds.
        if plural == PLURAL and self._stores is not None and isinstance(updated, dict):
            self._stores[name] = updated
        elif plural == SCENARIO_PLURAL and isinstance(updated, dict):
            self._scenarios[name] = updated
        return True


def _short(exc: BaseException) -> str:
    """An API error in one line: its status and the server's message, not the headers."""
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}: {(exc.body or '')[:300]}".strip()
    return f"{type(exc).__name__}: {exc}"[:300]


def run_controller(settings: ControllerSettings) -> int:
    api = api_client(settings.kubeconfig)
    runtime = ServiceRuntime("controller", settings.metrics_port).start()
    try:
        return StoreController(settings, runtime, api).run()
    finally:
        runtime.close()
        api.close()  # type: ignore[no-untyped-call]
