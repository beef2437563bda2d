"""Synthetic but realistic input sets for a business date (SPEC §2, §8 `xmargin generate`)."""

from pipeline.generate.generator import CHUNK_ACCOUNTS, generate_inputs

__all__ = ["CHUNK_ACCOUNTS", "generate_inputs"]
