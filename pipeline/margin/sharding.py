"""Stable account shards, identical in every process and Polars version (ARCHITECTURE "margin")."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

# 64-bit FNV-1a: simple, well known, and computed from the UTF-8 bytes alone; Python's `hash` is
# salted per process and Polars' `hash` may change between versions, so neither can place an
# account in the same shard in two Airflow workers.
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def fnv1a_64(values: pl.Series) -> npt.NDArray[np.uint64]:
    """FNV-1a 64 of each string's UTF-8 bytes, vectorised over rows (one pass per byte position)."""
    arr = values.cast(pl.String).to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.cast(pc.fill_null(arr, ""), pa.large_string())
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data_buf = arr.buffers()[2]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    )
    starts = offsets[:-1]
    lengths = np.diff(offsets)
    digest = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    longest = int(lengths.max()) if n else 0
    for i in range(longest):
        active = np.flatnonzero(lengths > i)
        byte = data[starts[active] + i].astype(np.uint64)
        # uint64 arithmetic wraps modulo 2**64, which is exactly FNV's arithmetic.
        digest[active] = (digest[active] ^ byte) * _FNV_PRIME
    return digest


def fmix64(digest: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """MurmurHash3's 64-bit finaliser: spreads every input bit over the low bits."""
    # FNV's low k bits depend only on the low k bits of each byte ("ACCT-1" and "ACCT-5" share
    # their low 2 bits), so a modulo on the raw digest would place such ids in the same shard.
    h = digest.copy()
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def _shard_numbers(values: pl.Series, n_shards: int) -> pl.Series:
    digest = fmix64(fnv1a_64(values))
    return pl.Series(values.name, (digest % np.uint64(n_shards)).astype(np.int64))


def shard_of(account_id: pl.Expr, n_shards: int) -> pl.Expr:
    """Stable shard number in [0, n_shards) of each account id (ARCHITECTURE, SPEC §8 sharding).

    fmix64(FNV-1a 64 of the UTF-8 bytes) mod n_shards: the same in every process and version.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards: found {n_shards}, expected a whole number >= 1")
    return account_id.map_batches(
        lambda s: _shard_numbers(s, n_shards), return_dtype=pl.Int64, is_elementwise=True
    )
