"""Raw readers and staging helpers: strict CSV, streaming FIXML, atomic Parquet (SPEC §2).

Import the submodules (`csv_reader`, `fixml`, `staging`): nothing is imported here, so a module
that only needs `staging` (publish, reports) or the FIXML worker does not load the other readers.
"""
