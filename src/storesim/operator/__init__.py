"""The Store operator: the CustomResourceDefinitions stores.storesim.io and scenarios.storesim.io, and the
controller that turns Store resources into the stores file the simulators run (`storesim run controller`).

Importing this package stays light: the CRD is data, generated from the StoreSpec model so the API server
and the simulators validate a spec by one set of rules, and the controller (which needs the kubernetes
client) is imported only when `run_controller` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storesim.operator._crd import GROUP, KIND, PLURAL, PRINTER_COLUMNS, VERSION, spec_schema, store_crd
from storesim.operator._rbac import controller_rules
from storesim.operator._scenario_crd import (
    SCENARIO_KIND,
    SCENARIO_PLURAL,
    SCENARIO_PRINTER_COLUMNS,
    scenario_crd,
    scenario_spec_schema,
)

if TYPE_CHECKING:
    from storesim.operator._controller import run_controller

__all__ = [
    "GROUP",
    "KIND",
    "PLURAL",
    "PRINTER_COLUMNS",
    "SCENARIO_KIND",
    "SCENARIO_PLURAL",
    "SCENARIO_PRINTER_COLUMNS",
    "VERSION",
    "controller_rules",
    "run_controller",
    "scenario_crd",
    "scenario_spec_schema",
    "spec_schema",
    "store_crd",
]


def __getattr__(name: str) -> Any:
    if name == "run_controller":
        from storesim.operator._controller import run_controller

        return run_controller
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
