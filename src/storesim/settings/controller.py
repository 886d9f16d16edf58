"""Settings of the Store controller (`storesim run controller`): where it watches and writes, how it
elects a leader among its replicas, and where it reads the Stores' figures.

The names are a contract with the chart, which renders exactly these variables (NAMESPACE and POD_NAME
from the downward API). The lease timings are whole seconds, as the Lease's own leaseDurationSeconds is,
and must be ordered retry < renew deadline < duration: a leader gives up (renew deadline) before another
replica may take the lease over (duration), and it tries to renew several times before giving up.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Self

from pydantic import Field, FilePath, field_validator, model_validator

from storesim.settings._base import ComponentSettings

__all__ = ["ControllerSettings"]

# A DNS-1123 subdomain: what the API server takes as an object's name (the ConfigMap, the Lease).
_OBJECT_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A DNS-1123 label: a namespace's name.
_NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def _default_identity() -> str:
    """Unique per process, so two controllers started by hand on one machine never share a lease holder."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ControllerSettings(ComponentSettings):
    # Unset: the pod's own ServiceAccount (in-cluster config).
    kubeconfig: FilePath | None = None
    namespace: str = Field("default", max_length=63, pattern=_NAMESPACE)
    pod_name: str = Field(default_factory=_default_identity, min_length=1, max_length=253)
    stores_configmap: str = Field("storesim-stores", max_length=253, pattern=_OBJECT_NAME)
    # A plain process's stand-ins for the kubelet's projection of the ConfigMap: the simulators poll them.
    stores_file: Path | None = None
    scenario_file: Path | None = None
    lease_name: str = Field("storesim-controller", max_length=253, pattern=_OBJECT_NAME)
    lease_duration_seconds: int = Field(15, ge=1, le=3600)
    renew_deadline_seconds: int = Field(10, ge=1, le=3600)
    retry_period_seconds: int = Field(2, ge=1, le=3600)
    prometheus_url: str | None = Field(None, pattern=r"^https?://[^\s]+$")
    status_interval_seconds: float = Field(10, gt=0, le=86400)
    metrics_port: int = Field(8000, ge=0, lt=65536)

    @field_validator("prometheus_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        """The API's paths are appended to it: http://prometheus:9090/ and http://prometheus:9090 agree."""
        return None if value is None else value.rstrip("/")

    @model_validator(mode="after")
    def _lease_timings_in_order(self) -> Self:
        if self.retry_period_seconds >= self.renew_deadline_seconds:
            raise ValueError(
                f"RENEW_DEADLINE_SECONDS={self.renew_deadline_seconds} must be greater than "
                f"RETRY_PERIOD_SECONDS={self.retry_period_seconds}"
            )
        if self.renew_deadline_seconds >= self.lease_duration_seconds:
            raise ValueError(
                f"RENEW_DEADLINE_SECONDS={self.renew_deadline_seconds} must be less than "
                f"LEASE_DURATION_SECONDS={self.lease_duration_seconds}"
            )
        return self
