"""The one percentile helper every bench uses (median, p95, max of latencies and lags).

`statistics.quantiles(method="inclusive")` interpolates linearly between the sorted samples, the
same definition as numpy's default, so a p95 here means the same in every bench's table.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float, *, ndigits: int | None = 1) -> float | None:
    """The q-quantile (0 <= q <= 1) of `values`, or None when there are none."""
    data = sorted(values)
    if not data:
        return None
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} is outside 0..1")
    if len(data) == 1 or q == 0.0:
        result = data[0]
    elif q == 1.0:
        result = data[-1]
    else:
        cuts = statistics.quantiles(data, n=1000, method="inclusive")
        result = cuts[max(0, min(len(cuts) - 1, round(q * 1000) - 1))]
    return round(result, ndigits) if ndigits is not None else result
