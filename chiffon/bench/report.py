"""One benchmark result: our figure and the raw library's from the same run, and their ratio."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Result:
    """A scenario's figures. ``ours`` and ``baseline`` are operations per second."""

    scenario: str
    messages: int
    concurrency: int
    seconds: float
    ours: float
    baseline: float
    baseline_seconds: float
    p50_us: float | None
    p99_us: float | None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else 0.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "messages": self.messages,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 4),
            "ours": round(self.ours, 1),
            "baseline": round(self.baseline, 1),
            "ratio": round(self.ratio, 3),
            "baseline_seconds": round(self.baseline_seconds, 4),
            "p50_us": None if self.p50_us is None else round(self.p50_us, 1),
            "p99_us": None if self.p99_us is None else round(self.p99_us, 1),
        }
        out.update(self.extra)
        return out


def percentiles(samples_ns: Sequence[int]) -> tuple[float | None, float | None]:
    """p50 and p99 in microseconds."""
    if not samples_ns:
        return None, None
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 / 1000.0, p99 / 1000.0


def median_result(runs: Sequence[Result]) -> Result:
    """The run with the median ``ours``, carrying every run's figures for the record."""
    ordered = sorted(runs, key=lambda r: r.ours)
    middle = ordered[len(ordered) // 2]
    if len(runs) == 1:
        return middle
    extra = dict(middle.extra)
    extra["runs"] = [
        {"ours": round(r.ours, 1), "baseline": round(r.baseline, 1), "ratio": round(r.ratio, 3)}
        for r in runs
    ]
    extra["median_of"] = len(runs)
    extra["ratio_median"] = round(statistics.median(r.ratio for r in runs), 3)
    return dataclasses.replace(middle, extra=extra)


def to_json(result: Result) -> str:
    return json.dumps(result.as_dict())


def to_table(results: Sequence[Result]) -> str:
    header = f"{'scenario':<10} {'messages':>9} {'ours/s':>12} {'raw/s':>12} {'ratio':>6} "
    header += f"{'p50 µs':>8} {'p99 µs':>8}"
    lines = [header, "-" * len(header)]
    for r in results:
        p50 = "-" if r.p50_us is None else f"{r.p50_us:.1f}"
        p99 = "-" if r.p99_us is None else f"{r.p99_us:.1f}"
        line = f"{r.scenario:<10} {r.messages:>9} {r.ours:>12,.0f} {r.baseline:>12,.0f} "
        line += f"{r.ratio:>6.2f} {p50:>8} {p99:>8}"
        if "bytes_per_actor" in r.extra:
            line += f"   {r.extra['bytes_per_actor']:,.0f} B/actor"
        lines.append(line)
    return "\n".join(lines)
