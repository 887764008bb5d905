"""`audit verify` of a whole store, measured in a fresh process: its time and peak memory.

    python -m benchmarks.audit_verify --db PATH        # an embedded store
    python -m benchmarks.audit_verify --db bolt://...  # Neo4j (TRACEGRAPH_NEO4J_USER, _PASSWORD)

prints one JSON object: ``seconds`` (wall), ``cpu_seconds`` (this process; on Neo4j the server's
work is not in it), ``peak_rss_mib`` (the process's peak resident set, VmHWM: Python, the driver
or SQLite's page cache and maps, the sort's buffers), ``entries``, ``records``, ``versions`` and
``intact``. `measure` runs it in a subprocess, so that the peak is verify's alone and not that
of whatever ran before in the caller.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tracegraph.audit import SORT_ROWS, verify
from tracegraph.settings import Settings
from tracegraph.store import open_store
from tracegraph.store.base import VERSION_PAGE


def peak_rss_kib() -> int:
    """This process's peak resident set (KiB): ``VmHWM``, which starts again at an exec; the
    ``ru_maxrss`` of getrusage is kept across one, so a child of a large process would report
    its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run(db: str, *, page_size: int = VERSION_PAGE, sort_rows: int = SORT_ROWS) -> dict[str, Any]:
    """Verify the store ``db`` names in this process; the figures `measure` answers."""
    store = open_store(Settings(db=db), create=False)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        result = verify(store, page_size=page_size, sort_rows=sort_rows)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        store.close()
    return {
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mib": round(peak_rss_kib() / 1024, 1),
        "entries": result.entries,
        "records": result.records,
        "versions": result.versions,
        "intact": result.intact,
    }


def measure(
    db: str | Path,
    *,
    page_size: int = VERSION_PAGE,
    sort_rows: int = SORT_ROWS,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`run` in a fresh Python process (``env``: its environment, the caller's by default)."""
    argv = [sys.executable, "-m", "benchmarks.audit_verify", "--db", str(db)]
    argv += ["--page-size", str(page_size), "--sort-rows", str(sort_rows)]
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        argv, capture_output=True, cwd=root, env=env or dict(os.environ), check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"audit verify of {db} failed (exit {done.returncode}): "
            + done.stderr.decode(errors="replace").strip()
        )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit_verify", description=__doc__)
    parser.add_argument("--db", required=True, help="an embedded store's path or a Neo4j URI")
    parser.add_argument("--page-size", type=int, default=VERSION_PAGE)
    parser.add_argument("--sort-rows", type=int, default=SORT_ROWS)
    args = parser.parse_args(argv)
    figures = run(args.db, page_size=args.page_size, sort_rows=args.sort_rows)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
