"""What the controller may do in its namespace, and all it does: the rules of its Role.

One copy, beside the code that makes the calls: the chart's storesim.controllerRules is checked against it
(rendered, and by the API server's own SubjectAccessReviews), and a controller running with a token bound
to only these rules is tested to do all of its work. Create cannot be limited to a name (RBAC decides
before the object has one), so it has rules of its own.
"""

from __future__ import annotations

from typing import Any

from storesim.operator._crd import GROUP, PLURAL
from storesim.operator._scenario_crd import SCENARIO_PLURAL

__all__ = ["controller_rules"]


def controller_rules(configmap: str, lease: str) -> list[dict[str, Any]]:
    """The Role's rules for a controller that writes ConfigMap ``configmap`` and leads through ``lease``."""
    return [
        {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["list", "watch"]},
        {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["patch"]},
        {"apiGroups": [GROUP], "resources": [SCENARIO_PLURAL], "verbs": ["list"]},
        {"apiGroups": [GROUP], "resources": [f"{SCENARIO_PLURAL}/status"], "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [configmap],
            "verbs": ["get", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
    ]
