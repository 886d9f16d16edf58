"""How the controller's watch ends: a 410 Gone (history compacted) means a relist, a 504 (the API
server's watch cache behind the version asked for) only a new watch from the same version, and any other
refusal goes to the loop, which marks the controller not ready."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from storesim.operator._controller import StoreController
from storesim.services._runtime import ServiceRuntime
from storesim.settings import ControllerSettings

VARIABLES = frozenset(name.upper() for name in ControllerSettings.model_fields)
STORES = {"store-001": {"metadata": {"name": "store-001", "resourceVersion": "7"}}}


@pytest.fixture
def controller(monkeypatch: pytest.MonkeyPatch) -> StoreController:
    """A leader's controller that has listed the Stores at version 7; it never reaches a server."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    runtime = ServiceRuntime("controller", 0)  # its ops server is never started
    made = StoreController(ControllerSettings.from_env(), runtime, client.ApiClient(client.Configuration()))
    made._stores, made._version = dict(STORES), "7"
    return made


def ending_with(status: int) -> Any:
    def events(_seconds: int) -> Iterator[dict[str, Any]]:
        raise ApiException(status=status, reason="from the test")
        yield {}  # a generator, as the real watch is

    return events


def test_a_504_watches_again_from_the_same_version(controller: StoreController) -> None:
    controller._events = ending_with(504)  # type: ignore[method-assign]
    controller._watch()
    assert (controller._stores, controller._version) == (STORES, "7")


def test_a_410_lists_again(controller: StoreController) -> None:
    controller._events = ending_with(410)  # type: ignore[method-assign]
    controller._watch()
    assert controller._stores is None


def test_another_refusal_reaches_the_loop(controller: StoreController) -> None:
    controller._events = ending_with(403)  # type: ignore[method-assign]
    with pytest.raises(ApiException):
        controller._watch()
