"""The shelf seed's PostgreSQL variables, shared by every component that reads or loads daily discounts."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import Field

from storesim.settings._base import ComponentSettings

__all__ = ["PostgresSettings"]


class PostgresSettings(ComponentSettings):
    pg_host: str = "postgres"
    pg_port: int = Field(5432, gt=0, lt=65536)
    pg_db: str = "smart_shelf"
    pg_user: str = "bdt_user"
    pg_pass: str = "bdt_password"
    daily_discount_table: str = Field(
        "analytics.daily_discounts", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"
    )

    @property
    def pg_dsn(self) -> str:
        user, password = quote(self.pg_user, safe=""), quote(self.pg_pass, safe="")
        return f"postgresql://{user}:{password}@{self.pg_host}:{self.pg_port}/{quote(self.pg_db, safe='')}"
