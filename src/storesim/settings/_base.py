"""What every component's settings share: environment-only sources and a one-line error."""

from __future__ import annotations

from typing import Any, Self, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ComponentSettings", "SettingsError", "load_settings"]


class SettingsError(ValueError):
    """A setting is wrong: the message is one line that names it and says why."""


class ComponentSettings(BaseSettings):
    """Fields are named after the seeds' environment variables (lower-cased)."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """The settings from the environment (and explicit overrides), or a SettingsError."""
        return load_settings(cls, **overrides)


def _describe(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:  # a rule across settings: its message names them
        return f"invalid settings: {message}"
    name = ".".join(str(part) for part in error["loc"]).upper()
    value = error.get("input")
    shown = f"={value}" if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
    return f"invalid setting {name}{shown}: {message}"


S = TypeVar("S", bound=ComponentSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc.errors()[0])) from None
