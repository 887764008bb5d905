"""One settings object, read from the environment (prefix ``TRACEGRAPH_``) by `get_settings`."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRACEGRAPH_", extra="ignore")

    db: str = Field(
        "tracegraph.tgdb",
        description="bolt://, neo4j:// or neo4j+s:// URI for Neo4j; anything else is the path "
        "of the embedded store, created on first use",
    )
    neo4j_user: str = Field(
        "neo4j", validation_alias=AliasChoices("NEO4J_USER", "TRACEGRAPH_NEO4J_USER")
    )
    neo4j_password: SecretStr = Field(
        SecretStr(""), validation_alias=AliasChoices("NEO4J_PASSWORD", "TRACEGRAPH_NEO4J_PASSWORD")
    )
    neo4j_database: str = Field("neo4j", description="the Neo4j database to use")
    write_batch: int = Field(10_000, ge=100, description="rows per UNWIND batch when writing")
    actor: str | None = Field(
        None, description="who the audit trail names for CLI writes (default: the OS user)"
    )


def get_settings(**overrides: object) -> Settings:
    """Build the settings; tests and the CLI pass overrides (e.g. ``db=``)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
