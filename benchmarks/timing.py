"""Warm runs, interleaved: every system of a probe runs once in turn, round after round, so
the machine's noise (other jobs on the same 2 cores) falls on all of them alike.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What one run of a system gives: its answer, and the server's own time if it has one."""

    answer: Any
    server_ms: float | None = None


Task = Callable[[], Outcome]


@dataclass(frozen=True)
class Staged:
    """A task with an untimed step before each of its runs (`measure` times `run` alone): a
    write that the timed analysis comes after."""

    prepare: Callable[[], None]
    run: Task

    def __call__(self) -> Outcome:
        self.prepare()
        return self.run()


def _timed(task: Task) -> tuple[Outcome, float]:
    """One run of a task and its wall time (a `Staged` task's step before it not counted)."""
    if isinstance(task, Staged):
        task.prepare()
        task = task.run
    started = time.perf_counter()
    outcome = task()
    return outcome, time.perf_counter() - started


@dataclass
class Samples:
    system: str
    #: Wall-clock seconds of each timed run (the warm-up run is not among them, except for a
    #: system so slow that its single run is all there is: then `single` is set).
    seconds: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    warmup_s: float = 0.0
    single: bool = False
    answer: Any = None

    @property
    def runs(self) -> int:
        return len(self.seconds)

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        return percentile(self.seconds, 95)

    @property
    def server_p50(self) -> float | None:
        return statistics.median(self.server_ms) if self.server_ms else None

    @property
    def server_p95(self) -> float | None:
        return percentile(self.server_ms, 95) if self.server_ms else None

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "single_run": self.single,
            "warmup_s": self.warmup_s,
            "p50_s": self.p50,
            "p95_s": self.p95,
            "min_s": min(self.seconds),
            "server_p50_ms": self.server_p50,
            "server_p95_ms": self.server_p95,
        }


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile (p95 of 20 runs is the 19th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Plan:
    """How many warm runs a system gets: as many as fit `budget_s` (within min..max); one that
    is too slow for `min_runs` in a few budgets gets `slow_runs`; one slower than `slow_s`
    gets none (its warm-up run is the measurement)."""

    budget_s: float
    min_runs: int
    max_runs: int
    slow_s: float
    slow_runs: int = 3

    def runs_for(self, warmup_s: float) -> int:
        if warmup_s > self.slow_s:
            return 0  # the warm-up run is the measurement
        per_run = max(warmup_s, 1e-6)
        fit = int(self.budget_s / per_run)
        if per_run * self.min_runs <= 4 * self.budget_s:
            return max(self.min_runs, min(self.max_runs, fit))
        return min(self.min_runs, self.slow_runs)


def measure(
    tasks: Mapping[str, Task],
    plan: Plan,
    log: Callable[[str], None],
    check: Callable[[dict[str, Any]], list[str]],
) -> dict[str, Samples] | list[str]:
    """Warm every task up once, check their answers against each other (``check`` names the
    differences), and only if they agree time them in interleaved rounds. Returns the samples,
    or the differences."""
    out: dict[str, Samples] = {}
    planned: dict[str, int] = {}
    for name, task in tasks.items():
        outcome, took = _timed(task)
        samples = Samples(name, warmup_s=took, answer=outcome.answer)
        planned[name] = plan.runs_for(took)
        if planned[name] == 0:
            samples.single = True
            samples.seconds.append(took)
            if outcome.server_ms is not None:
                samples.server_ms.append(outcome.server_ms)
            log(f"    {name}: one run of {took:.2f} s (slower than {plan.slow_s:.0f} s)")
        out[name] = samples
    problems = check({name: samples.answer for name, samples in out.items()})
    if problems:
        return problems
    for samples in out.values():
        samples.answer = None  # answers can be large (a million keys): not kept
    for round_ in range(max(planned.values(), default=0)):
        for name, task in tasks.items():
            if round_ >= planned[name]:
                continue
            outcome, took = _timed(task)
            out[name].seconds.append(took)
            if outcome.server_ms is not None:
                out[name].server_ms.append(outcome.server_ms)
    return out
