"""The DuckDB models of `sql/` (SPEC §10): found by name, ordered by reference, run with bound
parameters.

One statement per file, named for what it produces. A model refers to another by its name, as
dbt's `ref()` does. `stg_` models are ephemeral: each is spliced as a CTE into the statements
that select from it, so DuckDB streams the published Parquet straight into the aggregate that
needs it and never holds a day's accounts in a table. `int_` and `rpt_` models are small and
materialized as temporary tables in dependency order; a `rpt_` model's `order by` is kept by
DuckDB's insertion order. Values (file lists, dates, thresholds) are only ever bound (`$name`);
the SQL text holds no data.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipeline.errors import InternalError

EPHEMERAL_PREFIX = "stg_"
PREFIXES = ("stg_", "int_", "rpt_")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")
_LEADING_WITH = re.compile(r"\A(?:\s|--[^\n]*\n)*with\b")


@dataclass(frozen=True)
class Model:
    """One SQL file: its name (the file stem), its statement and the models it selects from."""

    name: str
    sql: str
    refs: frozenset[str]

    @property
    def ephemeral(self) -> bool:
        return self.name.startswith(EPHEMERAL_PREFIX)


def load_models(folder: Path) -> dict[str, Model]:
    """Every `stg_`/`int_`/`rpt_` model of `folder`, with its references to the others."""
    texts: dict[str, str] = {}
    for path in sorted(folder.glob("*.sql")):
        name = path.stem
        if not (_NAME.fullmatch(name) and name.startswith(PREFIXES)):
            raise InternalError(
                f"{path}: a model is named stg_/int_/rpt_<lowercase name>.sql, found {path.name}"
            )
        texts[name] = path.read_text(encoding="utf-8").strip().rstrip(";")
    if not texts:
        raise InternalError(f"no SQL models in {folder}")
    models: dict[str, Model] = {}
    for name, sql in texts.items():
        code = _COMMENT.sub("", sql)
        refs = frozenset(
            other for other in texts if other != name and re.search(rf"\b{other}\b", code)
        )
        models[name] = Model(name, sql, refs)
    return models


class ModelRunner:
    """Runs the models of one history on one DuckDB connection."""

    def __init__(
        self, models: Mapping[str, Model], params: Mapping[str, Any], threads: int | None = None
    ) -> None:
        self.models = dict(models)
        self.params = dict(params)
        config: dict[str, Any] = {} if threads is None else {"threads": threads}
        self.con = duckdb.connect(":memory:", config=config)
        # Timestamps with zone come out in UTC whatever the machine's zone (SPEC §10.8).
        self.con.execute("set TimeZone = 'UTC'")

    def close(self) -> None:
        self.con.close()

    def _ephemeral_deps(self, model: Model) -> list[Model]:
        """The ephemeral models `model` reads, transitively, upstream first."""
        order: list[Model] = []

        def visit(m: Model) -> None:
            for ref in sorted(m.refs):
                dep = self.models[ref]
                if dep.ephemeral and dep not in order:
                    visit(dep)
                    order.append(dep)

        visit(model)
        return order

    def compiled(self, name: str) -> str:
        """The statement of `name` with its ephemeral models spliced in as leading CTEs."""
        model = self.models[name]
        deps = self._ephemeral_deps(model)
        if not deps:
            return model.sql
        match = _LEADING_WITH.match(model.sql)
        if match is None:
            raise InternalError(
                f"model {name}: reads {[d.name for d in deps]} and must begin with import CTEs"
                " (`with ...`), as every model does"
            )
        ctes = ",\n".join(f"{dep.name} as (\n{dep.sql}\n)" for dep in deps)
        return f"with\n{ctes},\n{model.sql[match.end() :]}"

    def _bound(self, sql: str, name: str) -> dict[str, Any]:
        wanted = sorted(set(_PARAM.findall(_COMMENT.sub("", sql))))
        missing = [w for w in wanted if w not in self.params]
        if missing:
            raise InternalError(f"model {name}: no value bound for parameter(s) {missing}")
        return {w: self.params[w] for w in wanted}

    def materialize(self) -> list[str]:
        """Create every non-ephemeral model as a temporary table, upstream first."""
        graph = {
            name: {r for r in m.refs if not self.models[r].ephemeral}
            for name, m in self.models.items()
            if not m.ephemeral
        }
        sorter = graphlib.TopologicalSorter(graph)
        try:
            order = list(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            raise InternalError(f"SQL models refer to each other in a cycle: {cycle}") from exc
        for name in order:
            sql = self.compiled(name)
            self.con.execute(f"create temp table {name} as\n{sql}", self._bound(sql, name))
        return order

    def fetch(self, name: str) -> pa.Table:
        """A materialized model's rows in stored order, or an ephemeral model's result."""
        model = self.models.get(name)
        if model is None:
            raise InternalError(f"no SQL model {name!r}; have {sorted(self.models)}")
        if model.ephemeral:
            sql = self.compiled(name)
            return self.con.sql(sql, params=self._bound(sql, name)).to_arrow_table()
        return self.con.sql(f"select * from {name}").to_arrow_table()
