"""The benchmark sizes and the resources each one is given (sized for 2 cores and 24 GiB)."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Size:
    name: str
    devices: int
    #: Recall probes: suspects whose downstream closure holds about this many devices.
    recall_targets: tuple[int, ...]
    #: Common-cause probes: this many case devices.
    cases: tuple[int, ...]
    #: Neo4j JVM heap (-Xms = -Xmx) and page cache; PostgreSQL shared_buffers.
    neo4j_heap: str
    neo4j_pagecache: int
    pg_shared_buffers: str
    #: Records of the file's beginning imported once per configuration to find the best
    #: (chunk, write batch); then the whole file is imported with the best one.
    sweep_records: int
    #: Seconds of warm runs per system and probe (at least `min_runs`, at most `max_runs`).
    budget_s: float
    min_runs: int = 3
    max_runs: int = 20
    #: A baseline whose single run takes longer than this is run once and not again.
    slow_s: float = 20.0
    #: Warm runs (after the warm-up) of a system too slow for `min_runs` within a few budgets.
    slow_runs: int = 3
    #: The per-hop loop (one query per node) is not run on probes reaching more nodes than
    #: this (None: always run); at 1M devices it would take most of an hour by itself.
    per_hop_max_nodes: int | None = None
    #: Change impact is measured for the first this many change orders (None: all of them).
    impact_changes: int | None = None
    #: Whether the profile of the largest recall also times its reads shaped otherwise (each
    #: shape reads the whole closure again).
    fetch_variants: bool = True
    #: The recall profiled is the largest probe reaching at most this many devices (None: the
    #: largest): the profile runs the recall twice more, once under cProfile.
    profile_max_devices: int | None = None
    #: Timed fresh `tracegraph` processes per command and store (after one checked, untimed
    #: round); the cold figures are their median.
    cold_runs: int = 5
    #: Requests each HTTP client makes against `tracegraph serve` (per client count).
    http_requests: int = 40
    #: The numbers of concurrent HTTP clients measured, one after the other.
    http_clients: tuple[int, ...] = (1, 8)
    #: (records per import, rows per UNWIND write batch) tried on the file's beginning.
    sweep: tuple[tuple[int, int], ...] = (
        (10_000, 5_000),
        (50_000, 5_000),
        (50_000, 20_000),
        (200_000, 20_000),
    )


SIZES: dict[str, Size] = {
    # The smoke run of `make test`: checks that the systems agree; its timings mean nothing.
    "tiny": Size(
        "tiny",
        devices=300,
        recall_targets=(10, 100),
        cases=(10, 30),
        neo4j_heap="512m",
        neo4j_pagecache=128 * MIB,
        pg_shared_buffers="64MB",
        sweep_records=2_000,
        budget_s=0.1,
        min_runs=1,
        max_runs=1,
        slow_s=5.0,
        cold_runs=1,
        http_requests=10,
        sweep=((1_000, 500), (5_000, 2_000)),
    ),
    "S": Size(
        "S",
        devices=10_000,
        recall_targets=(10, 1_000, 10_000),
        cases=(100, 1_000),
        neo4j_heap="2g",
        neo4j_pagecache=1 * GIB,
        pg_shared_buffers="512MB",
        sweep_records=40_000,
        budget_s=4.0,
        min_runs=20,
        max_runs=30,
    ),
    "M": Size(
        "M",
        devices=100_000,
        recall_targets=(10, 1_000, 10_000, 100_000),
        cases=(100, 1_000),
        neo4j_heap="4g",
        neo4j_pagecache=3 * GIB,
        pg_shared_buffers="1GB",
        sweep_records=200_000,
        budget_s=4.0,
        min_runs=20,
        max_runs=30,
        slow_s=15.0,
    ),
    # 1M devices: about 2.7M nodes and 10M edges.
    "L": Size(
        "L",
        devices=1_000_000,
        recall_targets=(10, 1_000, 100_000, 1_000_000),
        cases=(100, 1_000),
        neo4j_heap="6g",
        neo4j_pagecache=8 * GIB,
        pg_shared_buffers="2GB",
        sweep_records=200_000,
        budget_s=8.0,
        min_runs=5,
        max_runs=20,
        slow_s=30.0,
        # A system taking 6.4-30 s a run is timed once after its warm-up, not three times:
        # at 1M devices those runs (the row-per-key transfer, the batched per-hop loop, the
        # count-per-candidate baseline, impact, common cause) were ~6 of the run's minutes.
        slow_runs=1,
        per_hop_max_nodes=300_000,
        # Each change order of the data reaches a large share of the 1M devices (minutes per
        # run on Neo4j): two of them, one with devices on both sides of the change.
        impact_changes=2,
        fetch_variants=False,
        # Profiling the 1M-device recall took ~6 minutes (a plain and a cProfile run); the
        # 136k-device probe shows the same split of the time.
        profile_max_devices=200_000,
        # Two configurations only: at S and M the best was always the largest chunk with the
        # large write batch, and every record of the sweep is time taken from the 30 minutes.
        sweep=((50_000, 20_000), (200_000, 20_000)),
    ),
}
