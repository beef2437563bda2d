"""Per-row weighted sums whose value for a row does not depend on the other rows (SPEC §8).

A BLAS matrix-vector product picks its kernel, and so its order of summation, by the shape of
the whole matrix: the same account can get a different last bit in a shard than in the whole
book, and the published hashes then differ between `--shards 1` and the Airflow run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def weighted_row_sums(matrix: FloatArray, weights: Sequence[float] | FloatArray) -> FloatArray:
    """Σ_k matrix[:, k] · weights[k], added in column order for every row alike."""
    total = np.zeros(matrix.shape[0])
    for k, weight in enumerate(np.asarray(weights, dtype=np.float64)):
        total += matrix[:, k] * weight
    return total
