"""The controller's connection to the API server: building the official client, raw JSON requests where the
client's models mis-serialise, and telling a transient failure from an answer.

Why raw JSON for some requests: the client's models turn a datetime into `isoformat()`, which drops the
fraction when it is zero (`2026-01-01T00:00:00+00:00`), and the API server parses a MicroTime (a Lease's
renewTime, acquireTime) strictly as RFC3339 with six fractional digits, so such a request fails with 400
"cannot parse "+00:00" as ".000000"" (measured against kube-apiserver v1.34). A dict body does not help:
the generated methods validate it into the same model first. `request_json` sends the dict as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from storesim.settings import SettingsError

__all__ = ["ApiException", "api_client", "is_transient", "request_json"]

Timeout = tuple[float, float]


def api_client(kubeconfig: Path | None) -> client.ApiClient:
    """A client from KUBECONFIG, or from the pod's ServiceAccount when it is unset; a SettingsError when
    neither can be loaded (the CLI turns it into one line and exit 2)."""
    settings = client.Configuration()
    try:
        if kubeconfig is not None:
            # The loaders are the client's untyped functions.
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=settings
            )
        else:
            config.load_incluster_config(client_configuration=settings)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
        where = f"KUBECONFIG={kubeconfig}" if kubeconfig is not None else "KUBECONFIG (unset: in-cluster)"
        raise SettingsError(f"invalid setting {where}: {exc}") from None
    # One connection attempt per request: the controller's own loop retries, at its own pace, so that a
    # dead API server costs one short timeout, not urllib3's three retries of it.
    settings.retries = 0
    return client.ApiClient(settings)


def request_json(
    api: client.ApiClient,
    method: str,
    path: str,
    timeout: Timeout,
    body: dict[str, Any] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """`method path` with `body` sent exactly as given; the answer as a dict, or the client's ApiException
    (NotFoundException, ConflictException, ...) for a status outside 2xx."""
    headers: dict[str, Any] = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    request = api.param_serialize(
        method=method, resource_path=path, header_params=headers, body=body, auth_settings=["BearerToken"]
    )
    response = api.call_api(*request, _request_timeout=timeout)
    data: bytes = response.read()  # type: ignore[no-untyped-call]
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response, body=data.decode("utf-8", "replace"), data=None)
    answer: dict[str, Any] = json.loads(data)
    return answer


def is_transient(exc: BaseException) -> bool:
    """No answer from the API server (refused, timed out, cut) or a 5xx / 429: try again later. Any other
    status is an answer, and retrying the same request would get the same one."""
    if isinstance(exc, ApiException):
        return exc.status is None or exc.status == 429 or exc.status >= 500
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)
