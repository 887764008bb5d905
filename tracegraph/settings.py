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
    neo4j_retry_seconds: float = Field(
        10.0,
        gt=0,
        description="how long a Neo4j query is retried (server restarting, leader change) "
        "before the store is reported unavailable",
    )
    neo4j_connect_seconds: float = Field(
        5.0,
        gt=0,
        description="how long connecting to Neo4j may take before the server is reported "
        "unreachable (a server that refuses the connection is reported at once)",
    )
    busy_seconds: float = Field(
        30.0,
        gt=0,
        description="how long a write to the embedded store waits for another process's write "
        "to finish before it fails naming the busy store",
    )
    write_batch: int = Field(10_000, ge=100, description="rows per UNWIND batch when writing")
    actor: str | None = Field(
        None, description="who the audit trail names for CLI writes (default: the OS user)"
    )
    require_reason: bool = Field(
        False, description="refuse an import without a reason (--reason) for the audit trail"
    )
    # Recall reports (docs/cases.md): what the store cannot know about the firm
    firm_name: str | None = Field(None, description="the firm's name on recall reports")
    firm_address: str | None = Field(None, description="the firm's address on recall reports")
    firm_fei: str | None = Field(
        None, description="FDA establishment identifier (FEI) or registration number (806)"
    )
    firm_srn: str | None = Field(
        None, description="EU single registration number (SRN) of the manufacturer (FSCA)"
    )
    responsible_person: str | None = Field(
        None, description="who is responsible for the recall (name, phone or e-mail)"
    )
    # HTTP API (`tracegraph serve`)
    max_body_bytes: int = Field(
        100_000_000, ge=1, description="largest request body the API accepts (bigger: 413)"
    )
    page_size: int = Field(1000, ge=1, description="items per list in one API page by default")
    max_page_size: int = Field(
        10_000, ge=1, description="largest `limit` an API request may ask for (bigger: 422)"
    )
    retry_after: int = Field(
        5, ge=1, description="seconds the API tells clients to wait when the store is down (503)"
    )
    auth_failures: int = Field(
        10,
        ge=1,
        description="wrong API keys one client (address) may send within auth_failure_window "
        "seconds; after that every key it sends is refused with 429 until the window passes",
    )
    auth_failure_window: float = Field(
        60.0, gt=0, description="the window, in seconds, in which auth_failures are counted"
    )


def get_settings(**overrides: object) -> Settings:
    """Build the settings; tests and the CLI pass overrides (e.g. ``db=``)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
