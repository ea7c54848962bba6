"""Multiple-comparison control: Benjamini-Hochberg (reports) and Holm (short gate lists)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """BH-adjusted p-values (q-values); ``None``/NaN entries stay ``None`` and are not counted.

    Compare the adjusted values with the FDR level q: adjusted <= q controls the false discovery
    rate at q across the family.
    """
    idx = [i for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    m = len(idx)
    out: list[float | None] = [None] * len(p_values)
    if m == 0:
        return out
    ordered = sorted(idx, key=lambda i: p_values[i])  # type: ignore[arg-type,return-value]
    running = 1.0
    for rank in range(m, 0, -1):
        i = ordered[rank - 1]
        p = float(p_values[i])  # type: ignore[arg-type]
        running = min(running, p * m / rank)
        out[i] = min(1.0, running)
    return out


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (family-wise error control, uniformly better than Bonferroni)."""
    idx = [i for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    m = len(idx)
    out: list[float | None] = [None] * len(p_values)
    ordered = sorted(idx, key=lambda i: p_values[i])  # type: ignore[arg-type,return-value]
    running = 0.0
    for rank, i in enumerate(ordered):
        p = float(p_values[i])  # type: ignore[arg-type]
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
