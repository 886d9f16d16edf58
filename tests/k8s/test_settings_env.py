"""The chart renders exactly the variables of each component's settings model (src/storesim/settings),
with the models' defaults, and names every topic alike in every component. The simulators read their
stores from the Store controller's ConfigMap (STORES_FILE) with the operator, from STORE_IDS without it.
The truth follows the world's rules with the values of the components that own them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.k8s.chart import (
    CHART,
    CI_VALUES,
    CONTROLLER,
    SIMULATORS,
    STORES_FILE,
    env_of,
    helm,
    of_kind,
    render,
    template_args,
    workload,
)

from storesim.settings import (
    AdminSettings,
    BridgeSettings,
    ClockSettings,
    ComponentSettings,
    ControllerSettings,
    FootTrafficSettings,
    LedgerSettings,
    PosSettings,
    PostgresSettings,
    RegisterSettings,
    ReplicaSettings,
    ShelfSettings,
    StatefulSettings,
    TruthSettings,
)
from storesim.settings._world import CartRules, RefundRules, ShoppingRules, VisitRules
from storesim.world import StoreSpec, write_stores_file

MODELS: dict[str, type[ComponentSettings]] = {
    "clock": ClockSettings,
    "foot-traffic": FootTrafficSettings,
    "shelf": ShelfSettings,
    "redis-kafka-bridge": BridgeSettings,
    "pos": PosSettings,
    "register": RegisterSettings,
    "ledger": LedgerSettings,
    "truth": TruthSettings,
}
# The transactional producers, whose REPLICA_ID is their pod's name, and those of them that keep state too
# (STATE_DIR, on a volume).
REPLICAS = {c for c, model in MODELS.items() if issubclass(model, ReplicaSettings)}
STATEFUL = {c for c, model in MODELS.items() if issubclass(model, StatefulSettings)}
# The world's rules (settings/_world.py) by the component that owns them; the truth follows them all.
WORLD_RULES: dict[str, type[ComponentSettings]] = {
    "foot-traffic": VisitRules,
    "shelf": ShoppingRules,
    "pos": CartRules,
    "ledger": RefundRules,
}
# A value other than the default for every rule, each set on its owner.
EVERY_RULE_CHANGED = {
    "DEFAULT_DAILY_CUSTOMERS": "900",
    "BASE_DAILY_CUSTOMERS": "800",
    "DAILY_CUSTOMERS": "700",
    "DAILY_VARIATION_PCT": "0.2",
    "DISABLE_DAILY_VARIATION": "true",
    "PUTBACK_PROB": "0.3",
    "FORCE_CHECKOUT_IF_EMPTY": "true",
    "MAX_SESSION_AGE_SEC": "3600",
    "REFUND_PROBABILITY": "0.4",
    "LEDGER_MODE": "standalone",
}
# The shelf seed's CSV fallback, which storesim never reads: left at its default. STORES_FILE is rendered
# only with operator.enabled (see test_without_the_operator_store_ids_picks_the_stores), SCENARIO_FILE
# with it or with scenarios in the values (test_scenarios.py).
UNRENDERED = {"STORE_CSV_PATH"}
# The controller runs in-cluster (no KUBECONFIG) and writes the ConfigMap, not files (no STORES_FILE,
# no SCENARIO_FILE).
CONTROLLER_UNRENDERED = {"KUBECONFIG", "STORES_FILE", "SCENARIO_FILE"}
# What the controller is given: its contract with the chart.
CONTROLLER_VARIABLES = {
    "NAMESPACE",
    "POD_NAME",
    "STORES_CONFIGMAP",
    "LEASE_NAME",
    "LEASE_DURATION_SECONDS",
    "RENEW_DEADLINE_SECONDS",
    "RETRY_PERIOD_SECONDS",
    "STATUS_INTERVAL_SECONDS",
    "METRICS_PORT",
}
CASES = [(), *[(path,) for path in CI_VALUES]]
IDS = ["default", *[path.stem for path in CI_VALUES]]
# Each rule of EVERY_RULE_CHANGED set on its owner.
EVERY_RULE_SET = tuple(
    f"{'pos' if owner == 'pos' else f'components.{owner}'}.env.{name}={EVERY_RULE_CHANGED[name]}"
    for owner, rules in WORLD_RULES.items()
    for name in sorted(name.upper() for name in rules.model_fields)
)


def _variables(model: type[ComponentSettings]) -> set[str]:
    return {name.upper() for name in model.model_fields}


def _world_variables() -> set[str]:
    return set().union(*map(_variables, WORLD_RULES.values()))


def _values_env(values: dict[str, Any], component: str) -> dict[str, Any]:
    return dict((values["pos"] if component == "pos" else values["components"][component])["env"])


def _in_values(values: dict[str, Any], component: str) -> set[str]:
    """The variables the component's env in `values` holds; for the truth, the world's rules its owners'
    hold too, since the chart gives it theirs."""
    names = set(_values_env(values, component))
    if component == "truth":
        for owner, rules in WORLD_RULES.items():
            names |= set(_values_env(values, owner)) & _variables(rules)
    return names


def _container(objects: list[Any], component: str) -> Any:
    return workload(objects, component)["spec"]["template"]["spec"]["containers"][0]


def _stores_file(objects: list[Any], directory: Path) -> str:
    """The stores file the controller writes for the rendered Stores (the ConfigMap's stores.json), at a
    path of this machine."""
    path = directory / "stores.json"
    path.write_text(write_stores_file(StoreSpec.model_validate(s["spec"]) for s in of_kind(objects, "Store")))
    return str(path)


def _load(
    model: type[ComponentSettings],
    env: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    stores_file: str | None = None,
) -> Any:
    """The model as the container would load it (a pod name and a password for the valueFrom ones, and
    `stores_file` where the pod has the controller's ConfigMap)."""
    with monkeypatch.context() as patch:
        for name in _variables(model):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value if isinstance(value, str) else "demo-storesim-pos-0")
        if "STORES_FILE" in env:
            assert env["STORES_FILE"] == STORES_FILE
            assert stores_file is not None
            patch.setenv("STORES_FILE", stores_file)
        return model.from_env()


@pytest.mark.parametrize("component", SIMULATORS)
def test_every_rendered_variable_is_one_the_component_reads(component: str) -> None:
    names = set(env_of(_container(render(), component)))
    assert names - _variables(MODELS[component]) == set()


@pytest.mark.parametrize("component", SIMULATORS)
def test_every_variable_of_the_model_is_set_by_the_chart_or_in_values(component: str) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    rendered = set(env_of(_container(render(), component)))
    offered = set(values["common"]["env"]) | _in_values(values, component) | rendered
    assert _variables(MODELS[component]) - UNRENDERED - offered == set()


@pytest.mark.parametrize("component", SIMULATORS)
def test_the_values_defaults_are_the_models_defaults(
    component: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Loading the rendered environment changes nothing but the endpoints, topics and paths the chart
    sets: every variable in values.yaml holds the model's default (the default Stores are STORE_IDS')."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    model = MODELS[component]
    objects = render()
    loaded = _load(
        model, env_of(_container(objects, component)), monkeypatch, _stores_file(objects, tmp_path)
    )
    defaults = model()
    for name in set(values["common"]["env"]) | _in_values(values, component):
        field = name.lower()
        if field in model.model_fields:
            assert getattr(loaded, field) == getattr(defaults, field), name


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_every_component_accepts_its_rendered_settings(
    values: tuple[Path, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """...and runs the stores of the values: the Stores (through the controller's file), or STORE_IDS."""
    objects = render(values)
    stores = of_kind(objects, "Store")
    given = yaml.safe_load(values[0].read_text()) if values else {}
    if stores:
        expected = tuple(sorted(StoreSpec.model_validate(s["spec"]).number for s in stores))
    else:
        ids = given.get("common", {}).get("env", {}).get("STORE_IDS", "1,2,3")
        expected = tuple(int(n) for n in ids.split(","))
    stores_file = _stores_file(objects, tmp_path)
    for component in SIMULATORS:
        loaded = _load(MODELS[component], env_of(_container(objects, component)), monkeypatch, stores_file)
        assert loaded.store_ids == expected, component
    if stores:
        _load(ControllerSettings, env_of(_container(objects, CONTROLLER)), monkeypatch)


def test_the_transactional_stages_and_those_keeping_state() -> None:
    assert sorted(REPLICAS) == ["ledger", "pos", "register", "truth"]
    assert sorted(STATEFUL) == ["ledger", "pos", "register"]


@pytest.mark.parametrize("component", SIMULATORS)
def test_the_pod_name_is_the_replica_id_of_the_transactional_stages_and_state_has_a_volume(
    component: str,
) -> None:
    """A transactional producer's REPLICA_ID names its transactional.id, which must survive a restart of the
    replica; STATE_DIR and its volume are for the stages that keep state, not for the truth, whose
    progress is in Kafka (the store-control group's offsets)."""
    o = workload(render(), component)
    spec = o["spec"]["template"]["spec"]
    env = env_of(spec["containers"][0])
    assert env.get("REPLICA_ID") == (
        {"fieldRef": {"fieldPath": "metadata.name"}} if component in REPLICAS else None
    )
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    volumes = {v["name"] for v in spec["volumes"]} | {
        c["metadata"]["name"] for c in o["spec"].get("volumeClaimTemplates", [])
    }
    if component in STATEFUL:
        assert "state" in volumes
        assert mounts["state"] == env["STATE_DIR"]
    else:
        assert "STATE_DIR" not in env
        assert "state" not in volumes | set(mounts)


# ---- The world's rules: set on their owners, followed by the truth ----


@pytest.mark.parametrize(
    ("values", "sets"),
    [*[(case, ()) for case in CASES], ((), EVERY_RULE_SET)],
    ids=[*IDS, "every-rule-set"],
)
def test_the_truth_follows_the_world_rules_of_their_owners(
    values: tuple[Path, ...], sets: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Its replay is the streamed world only with the owners' rules: the truth's container has each one as
    the owner's has it (neither has one the owner leaves empty), and both load the same value."""
    objects = render(values, sets)
    stores_file = _stores_file(objects, tmp_path)
    truth_env = env_of(_container(objects, "truth"))
    truth = _load(TruthSettings, truth_env, monkeypatch, stores_file)
    for owner, rules in WORLD_RULES.items():
        assert issubclass(MODELS[owner], rules), owner
        owner_env = env_of(_container(objects, owner))
        loaded = _load(MODELS[owner], owner_env, monkeypatch, stores_file)
        for name in _variables(rules):
            assert truth_env.get(name) == owner_env.get(name), (owner, name)
            assert getattr(truth, name.lower()) == getattr(loaded, name.lower()), (owner, name)
    if sets:
        assert {name: truth_env.get(name) for name in EVERY_RULE_CHANGED} == EVERY_RULE_CHANGED


def test_every_rule_changed_is_every_rule_and_none_is_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """What makes the every-rule-set case above catch a rule the chart does not pass on."""
    assert set(EVERY_RULE_CHANGED) == _world_variables()
    changed = _load(TruthSettings, EVERY_RULE_CHANGED, monkeypatch)
    for name in EVERY_RULE_CHANGED:
        field = name.lower()
        assert getattr(changed, field) != TruthSettings.model_fields[field].get_default(), name


def test_the_ci_values_change_a_rule_of_every_owner() -> None:
    """So that the truth is compared with its owners where a copy of the defaults would differ."""
    for owner, rules in WORLD_RULES.items():
        default = env_of(_container(render(), owner))
        changed = [
            path.name
            for path in CI_VALUES
            if any(
                env_of(_container(render((path,)), owner)).get(name) != default.get(name)
                for name in _variables(rules)
            )
        ]
        assert changed, owner


def test_the_truths_values_cannot_set_a_rule() -> None:
    """values.schema.json takes the world's rules on their owners only: set twice, they could differ."""
    for name in sorted(_world_variables()):
        result = helm(*template_args(sets=(f"components.truth.env.{name}={EVERY_RULE_CHANGED[name]}",)))
        assert result.returncode != 0, name
        assert f"additional properties '{name}' not allowed" in result.stderr, name


# ---- The Store controller and the stores ----


def test_the_controller_gets_exactly_its_contract() -> None:
    names = set(env_of(_container(render(), CONTROLLER)))
    assert names == CONTROLLER_VARIABLES
    assert names <= _variables(ControllerSettings)
    with_prometheus = render(sets=("operator.env.PROMETHEUS_URL=http://prometheus.monitoring:9090",))
    assert set(env_of(_container(with_prometheus, CONTROLLER))) == CONTROLLER_VARIABLES | {"PROMETHEUS_URL"}


def test_every_variable_of_the_controller_is_set_by_the_chart_or_in_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    offered = set(values["operator"]["env"]) | set(env_of(_container(render(), CONTROLLER)))
    assert _variables(ControllerSettings) - CONTROLLER_UNRENDERED - offered == set()


def test_the_controllers_values_defaults_are_the_models_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    loaded = _load(ControllerSettings, env_of(_container(render(), CONTROLLER)), monkeypatch)
    defaults = ControllerSettings()
    for name in values["operator"]["env"]:
        assert getattr(loaded, name.lower()) == getattr(defaults, name.lower()), name
    assert (loaded.kubeconfig, loaded.stores_file) == (None, None)


def test_the_controller_writes_what_the_simulators_mount() -> None:
    objects = render()
    env = env_of(_container(objects, CONTROLLER))
    assert env["NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["LEASE_NAME"] == "demo-storesim-controller"
    for component in SIMULATORS:
        spec = workload(objects, component)["spec"]["template"]["spec"]
        (volume,) = [v for v in spec["volumes"] if "configMap" in v]
        assert volume["configMap"] == {"name": env["STORES_CONFIGMAP"], "optional": True}
        (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
        assert "subPath" not in mount  # the kubelet updates a directory mount in place, never a subPath
        assert mount["readOnly"] is True
        assert env_of(spec["containers"][0])["STORES_FILE"] == f"{mount['mountPath']}/stores.json"


def test_with_the_operator_store_ids_is_not_rendered() -> None:
    """STORES_FILE replaces STORE_IDS: rendering both would name the stores twice."""
    objects = render(sets=("common.env.STORE_IDS=7",))
    for component in SIMULATORS:
        assert "STORE_IDS" not in env_of(_container(objects, component))


@pytest.mark.parametrize("component", SIMULATORS)
def test_without_the_operator_store_ids_picks_the_stores(
    component: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    objects = render(sets=("operator.enabled=false", "common.env.STORE_IDS=4\\,9"))
    env = env_of(_container(objects, component))
    assert "STORES_FILE" not in env
    assert env["STORE_IDS"] == "4,9"
    offered = set(values["common"]["env"]) | _in_values(values, component) | set(env)
    # No scenarios in the values: no SCENARIO_FILE either.
    scenarios = {"SCENARIO_FILE"} & _variables(MODELS[component])
    assert _variables(MODELS[component]) - UNRENDERED - offered == {"STORES_FILE", *scenarios}
    assert _load(MODELS[component], env, monkeypatch).store_ids == (4, 9)


def test_every_component_names_the_topics_alike(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    renamed = (
        "topics.footTraffic=ft",
        "topics.footTrafficRealistic=ftr",
        "topics.shelfEvents=se",
        "topics.posTransactions=pt",
        "topics.posEvents=pe",
        "topics.transactions=tx",
        "topics.refunds=rf",
        "topics.truth=tr",
        "topics.deadLetters=dl",
        "topics.storeControl=sc",
        "topics.shelfRedisStream=rs",
    )
    objects = render(sets=renamed)
    stores_file = _stores_file(objects, tmp_path)
    s = {c: _load(MODELS[c], env_of(_container(objects, c)), monkeypatch, stores_file) for c in SIMULATORS}
    (job,) = of_kind(objects, "Job")
    job_containers = [
        *job["spec"]["template"]["spec"]["initContainers"],
        *job["spec"]["template"]["spec"]["containers"],
    ]
    admin = _load(AdminSettings, env_of(job_containers[0]), monkeypatch)
    assert admin.topic_names() == {
        "foot_traffic": "ft",
        "foot_traffic_realistic": "ftr",
        "shelf_events": "se",
        "pos_transactions": "pt",
        "pos_events": "pe",
        "transactions": "tx",
        "refunds": "rf",
        "truth": "tr",
    }
    assert s["foot-traffic"].kafka_topic == s["shelf"].kafka_topic_foot == s["pos"].foot_topic == "ft"
    assert s["foot-traffic"].kafka_topic_realistic == "ftr"
    assert (
        s["shelf"].kafka_topic_shelf
        == s["redis-kafka-bridge"].kafka_topic_shelf
        == s["pos"].shelf_topic
        == "se"
    )
    assert s["shelf"].redis_stream == s["redis-kafka-bridge"].redis_stream == "rs"
    assert s["pos"].pos_topic == s["register"].pos_topic == s["ledger"].pos_topic == "pt"
    assert (s["register"].kafka_topic, s["ledger"].kafka_topic, s["ledger"].kafka_topic_refunds) == (
        "pe",
        "tx",
        "rf",
    )
    assert s["truth"].truth_topic == admin.truth_topic == "tr"
    assert {(x.dlq_topic, x.store_control_topic) for x in s.values()} == {("dl", "sc")}
    assert (admin.dlq_topic, admin.store_control_topic) == ("dl", "sc")
    (test_pod,) = of_kind(objects, "Pod")
    assert _load(AdminSettings, env_of(test_pod["spec"]["containers"][0]), monkeypatch) == admin
    loader = _load(PostgresSettings, env_of(job_containers[2]), monkeypatch)
    assert (loader.pg_host, loader.pg_db) == (s["pos"].pg_host, s["pos"].pg_db)
