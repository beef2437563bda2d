"""ODCS contract -> Great Expectations suite plus the Polars columns it checks (SPEC §3).

Every rule of a contract becomes exactly one GX expectation whose `meta` names the rule, the
column and the severity. Rules GX has a cheap built-in expectation for (presence, nulls, sets,
ranges, lengths, uniqueness, row counts, column sets) use it directly on the raw or typed column.
Rules it has none for (plain-decimal and ISO-date formats, patterns, check digits, references to
other files, comparisons with the business date) are precomputed vectorised in Polars as a boolean
`__ok__<rule>` column and checked with `expect_column_values_to_be_in_set([True])`, so GX still
counts the failures and lists the failing rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from pipeline.contracts import gx_runtime
from pipeline.contracts.checkdigits import valid_values
from pipeline.contracts.odcs import Contract, Property, Severity
from pipeline.errors import InternalError

TYPED_PREFIX = "__typed__"
FLAG_PREFIX = "__ok__"

_FORMATS: dict[str, tuple[str, str, str]] = {
    # logical type -> (rule suffix, regex, what a reader of the report is told was expected)
    "date": ("iso_date", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "an ISO date YYYY-MM-DD"),
    "integer": ("integer", r"^[+-]?[0-9]+$", "a plain integer [+-]digits"),
    "number": ("plain_decimal", r"^[+-]?[0-9]+(\.[0-9]+)?$", "a plain decimal [+-]digits[.digits]"),
    "boolean": ("boolean", r"(?i)^(true|false|1|0)$", "true/false (any case) or 1/0"),
}
# Formats a property names with the custom property `valueFormat` instead of its logical type's
# (the FIX quantities of SPEC §2.3); `valueFormatSeverity` sets its rule's severity.
_NAMED_FORMATS: dict[str, tuple[str, str, str]] = {
    "fixQuantity": (
        "fix_quantity",
        r"^[0-9]+(\.0+)?$",
        "a FIX quantity: a plain non-negative decimal with a whole-number value (55, 55.0)",
    ),
}
_POLARS_TYPES: dict[str, pl.DataType] = {
    "Utf8": pl.String(),
    "Date": pl.Date(),
    "Int64": pl.Int64(),
    "Float64": pl.Float64(),
    "Boolean": pl.Boolean(),
}

FlagFn = Callable[[pl.DataFrame], pl.Expr]
ReferenceFn = Callable[[str, str], pl.Series | None]


@dataclass(frozen=True)
class Rule:
    """One contract rule: its GX expectation and, if precomputed, the Polars pass column.

    `gx_columns` are the GX frame columns the expectation reads (none for header and row-count
    rules); `subject`, for rules about other files' keys, builds the frame GX checks instead of
    the file's own rows.
    """

    rule: str
    column: str | None
    severity: Severity
    description: str
    expectation: Any
    flag_column: str | None = None
    flag: FlagFn | None = None
    gx_columns: tuple[str, ...] = ()
    subject: Callable[[pl.DataFrame], pl.DataFrame] | None = None

    @property
    def table_level(self) -> bool:
        """Checks the table as a whole (columns, row count) rather than column values."""
        return not self.gx_columns

    @property
    def header_level(self) -> bool:
        """Needs only the column names of the file, not its rows."""
        return type(self.expectation).__name__ in _HEADER_EXPECTATIONS


_HEADER_EXPECTATIONS = ("ExpectColumnToExist", "ExpectTableColumnsToMatchSet")
_TABLE_EXPECTATIONS = (
    "ExpectColumnToExist",
    "ExpectTableRowCountToBeBetween",
    "ExpectTableColumnsToMatchSet",
)


@dataclass(frozen=True)
class CompileEnv:
    """What the rules of one run depend on besides the contract itself.

    `columns`: the raw columns of the file and their dtypes (None: exactly the declared ones, as
    strings); `reference(table, column)`: distinct key values of another input, None when that
    input cannot be read (its own validation rejects the run then).
    """

    business_date: dt.date
    columns: Mapping[str, pl.DataType] | None = None
    reference: ReferenceFn = field(default=lambda table, column: None)


@dataclass(frozen=True)
class CompiledContract:
    """The rules of a contract for one file, ready to build the GX frame and staged frame."""

    contract: Contract
    rules: tuple[Rule, ...]
    typed_columns: tuple[str, ...]
    skipped: tuple[str, ...]
    raw_dtypes: Mapping[str, pl.DataType]

    def suite(self, rules: tuple[Rule, ...] | None = None, part: str = "") -> Any:
        """The Great Expectations `ExpectationSuite` of this contract (or of some of its rules)."""
        chosen = self.rules if rules is None else rules
        return gx_runtime.gx().ExpectationSuite(
            name=f"{self.contract.name}@{self.contract.version}{part}",
            expectations=[r.expectation for r in chosen],
            meta={
                "contract_id": self.contract.id,
                "contract_version": self.contract.version,
                "odcs_api_version": self.contract.api_version,
                "source": str(self.contract.source),
                "spec": self.contract.spec_section,
            },
        )

    def groups(self) -> list[tuple[tuple[str, ...], tuple[Rule, ...]]]:
        """Rules grouped by the GX frame columns they read; the table-level group reads none.

        GX's pandas engine filters (and so copies) the whole frame for every column expectation,
        so each group is validated on a frame of exactly the columns its rules read: the cost
        stays linear in rows, not in rows times columns times rules. A raw column's own rules
        share its frame; a pass column is a frame of one boolean column. Header rules need no
        rows and row counts need no columns.
        """
        grouped: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.subject is not None:
                key = "subject " + rule.rule
            elif rule.header_level:
                key = ""
            elif rule.table_level:
                key = "rows"
            else:
                key = "columns " + ",".join(rule.gx_columns)
            grouped.setdefault(key, []).append(rule)
        out = []
        for rules in grouped.values():
            columns: list[str] = []
            for rule in rules:
                columns += [c for c in rule.gx_columns if c not in columns]
            out.append((tuple(columns), tuple(rules)))
        return out

    def gx_frame(self, raw: pl.DataFrame) -> pl.DataFrame:
        """The raw columns plus the typed and precomputed pass columns the suite refers to.

        Also holds the typed column of every staged property that is not a plain string, so
        `staged_frame` takes them from here instead of parsing the strings again. One lazy
        query with common-subexpression elimination: a typed value that several pass columns
        test (`par_amount` as Int64 for its format, range, multiple and non-zero rules) is
        parsed once.
        """
        present = [c for c in raw.columns if c != "line"]
        typed_names = list(self.typed_columns)
        for prop in self.contract.properties:
            if (
                prop.staged_name is not None
                and prop.name in self.raw_dtypes
                and prop.name in present
                and prop.name not in typed_names
                and _needs_cast(prop, self.raw_dtypes[prop.name])
            ):
                typed_names.append(prop.name)
        typed = [
            typed_expr(self.contract.prop(name), self.raw_dtypes[name]).alias(TYPED_PREFIX + name)
            for name in typed_names
        ]
        flags = [
            r.flag(raw).fill_null(True).alias(r.flag_column)
            for r in self.rules
            if r.flag is not None and r.flag_column is not None
        ]
        return raw.lazy().select(*present, *typed, *flags).collect()

    def stageable(self, raw: pl.DataFrame) -> bool:
        """Whether `raw` has every column the staged frame is built from."""
        return all(p.name in raw.columns for p in self.contract.properties if p.staged_name)

    def staged_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The typed staged frame (ARCHITECTURE "Typed staged inputs"): exact names and dtypes.

        `frame` is the raw frame or its `gx_frame`, whose typed columns are then reused.
        """
        exprs = []
        for prop in self.contract.properties:
            staged = prop.staged_name
            if staged is None:
                continue
            if TYPED_PREFIX + prop.name in frame.columns:
                exprs.append(pl.col(TYPED_PREFIX + prop.name).alias(staged))
            else:
                exprs.append(typed_expr(prop, self.raw_dtypes[prop.name]).alias(staged))
        return frame.select(exprs)


def _needs_cast(prop: Property, raw_dtype: pl.DataType) -> bool:
    return not (raw_dtype == pl.String and prop.physical_type == "Utf8")


def typed_expr(prop: Property, raw_dtype: pl.DataType) -> pl.Expr:
    """The raw column of `prop` cast to its physical type; values that do not parse become null."""
    col = pl.col(prop.name)
    target = _POLARS_TYPES[prop.physical_type]
    if raw_dtype != pl.String:
        return col.cast(target, strict=False)
    if prop.physical_type == "Date":
        return col.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    if prop.physical_type == "Boolean":
        lowered = col.str.to_lowercase()
        return (
            pl.when(lowered.is_in(["true", "1"]))
            .then(pl.lit(True))
            .when(lowered.is_in(["false", "0"]))
            .then(pl.lit(False))
            .otherwise(pl.lit(None, dtype=pl.Boolean))
        )
    named = _named_format(prop)
    if named is not None and prop.physical_type == "Int64":
        # A whole-number decimal is that number: '55.00' is 55 (the trailing zeros go first).
        whole = col.str.replace(r"\.0+$", "")
        return pl.when(col.str.contains(named[1])).then(whole.cast(target, strict=False))
    if prop.physical_type in ("Int64", "Float64"):
        # Only plain numbers are numbers here (SPEC §2): 'NaN', 'inf' and '1e5' stay null.
        fmt = _FORMATS["integer" if prop.physical_type == "Int64" else "number"][1]
        return pl.when(col.str.contains(fmt)).then(col.cast(target, strict=False))
    return col


def _named_format(prop: Property) -> tuple[str, str, str] | None:
    """The `valueFormat` of a property, if it names one (see `_NAMED_FORMATS`)."""
    name = prop.custom.get("valueFormat")
    if name is None:
        return None
    if name not in _NAMED_FORMATS:
        raise InternalError(
            f"contract property {prop.name}: valueFormat {name!r} is none of "
            f"{sorted(_NAMED_FORMATS)}"
        )
    return _NAMED_FORMATS[str(name)]


def _format_severity(prop: Property) -> Severity:
    """`valueFormatSeverity` of a property: the severity of its format rule (default error)."""
    value = prop.custom.get("valueFormatSeverity", "error")
    if value == "warning":
        return "warning"
    if value != "error":
        raise InternalError(
            f"contract property {prop.name}: valueFormatSeverity {value!r}, expected "
            "'error' or 'warning'"
        )
    return "error"


def _const(expr: pl.Expr) -> FlagFn:
    """A pass column that depends only on the row itself."""

    def flag(_raw: pl.DataFrame) -> pl.Expr:
        return expr

    return flag


def _check_digit(column: str, kind: str) -> FlagFn:
    """Pass where the check digit is valid, computed once per distinct value of the file."""

    def flag(raw: pl.DataFrame) -> pl.Expr:
        return pl.col(column).is_in(valid_values(raw[column], kind).implode())

    return flag


class _Builder:
    def __init__(self, contract: Contract, env: CompileEnv) -> None:
        self.contract = contract
        self.env = env
        self.gxe = gx_runtime.expectations()
        self.rules: list[Rule] = []
        self.typed: list[str] = []
        self.skipped: list[str] = []
        if env.columns is None:
            self.columns: dict[str, pl.DataType] = {
                p.name: pl.String() for p in contract.properties
            }
        else:
            self.columns = dict(env.columns)

    def add(
        self,
        rule: str,
        source_column: str | None,
        description: str,
        expectation_class: str,
        severity: Severity = "error",
        flag: FlagFn | None = None,
        **kwargs: Any,
    ) -> None:
        flag_column = FLAG_PREFIX + rule if flag is not None else None
        if flag_column is not None:
            kwargs = {"column": flag_column, "value_set": [True]}
            expectation_class = "ExpectColumnValuesToBeInSet"
        column = source_column
        meta = {
            "rule": rule,
            "column": column,
            "severity": severity,
            "description": description,
            "contract": self.contract.name,
        }
        expectation = getattr(self.gxe, expectation_class)(
            **kwargs,
            meta=meta,
            description=f"{column or self.contract.name}: {description}",
            severity="critical" if severity == "error" else "warning",
        )
        if expectation_class in _TABLE_EXPECTATIONS:
            gx_columns: tuple[str, ...] = ()
        elif "column_list" in kwargs:
            gx_columns = tuple(kwargs["column_list"])
        else:
            gx_columns = (kwargs["column"],)
        self.rules.append(
            Rule(rule, column, severity, description, expectation, flag_column, flag, gx_columns)
        )

    def typed_col(self, prop: Property) -> str:
        if self.columns[prop.name] == pl.String and prop.logical_type == "string":
            return prop.name
        if prop.name not in self.typed:
            self.typed.append(prop.name)
        return TYPED_PREFIX + prop.name

    def property_rules(self, prop: Property) -> None:
        name = prop.name
        self.add(
            f"{name}.present",
            name,
            "column present in the header",
            "ExpectColumnToExist",
            column=name,
        )
        if name not in self.columns:
            self.skipped.append(f"{name}: column missing, its value rules were not run")
            return
        is_string = self.columns[name] == pl.String
        if prop.required:
            self.add(
                f"{name}.required",
                name,
                "non-empty",
                "ExpectColumnValuesToNotBeNull",
                column=name,
            )
        named = _named_format(prop)
        if is_string and (named is not None or prop.logical_type in _FORMATS):
            suffix, regex, expected = named or _FORMATS[prop.logical_type]
            typed = typed_expr(prop, pl.String())
            where = f"{prop.physical_name} " if named is not None and prop.physical_name else ""
            severity = _format_severity(prop)
            self.add(
                f"{name}.{suffix}",
                name,
                f"{where}is {expected}",
                "",
                severity,
                flag=_const(
                    pl.col(name).is_null()
                    | (pl.col(name).str.contains(regex) & typed.is_not_null())
                ),
            )
        opts = prop.options
        enum = prop.custom.get("enum")
        pattern = opts.get("pattern")
        if pattern is not None:
            self.add(
                f"{name}.pattern",
                name,
                f"matches {pattern}",
                "",
                flag=_const(pl.col(name).str.contains(str(pattern))),
            )
        if is_string and prop.logical_type == "string" and pattern is None and enum is None:
            self.add(
                f"{name}.no_surrounding_whitespace",
                name,
                "has no leading or trailing whitespace",
                "",
                flag=_const(pl.col(name).str.strip_chars() == pl.col(name)),
            )
        if "minLength" in opts or "maxLength" in opts:
            self.add(
                f"{name}.length",
                name,
                f"length in [{opts.get('minLength', 0)}, {opts.get('maxLength', '∞')}]",
                "ExpectColumnValueLengthsToBeBetween",
                column=name,
                min_value=opts.get("minLength"),
                max_value=opts.get("maxLength"),
            )
        if enum is not None:
            self.add(
                f"{name}.enum",
                name,
                f"one of {list(enum)}",
                "ExpectColumnValuesToBeInSet",
                column=self.typed_col(prop),
                value_set=list(enum),
            )
            if prop.custom.get("allValuesPresent"):
                self.add(
                    f"{name}.all_values_present",
                    name,
                    f"each of {list(enum)} present",
                    "ExpectColumnDistinctValuesToContainSet",
                    column=self.typed_col(prop),
                    value_set=list(enum),
                )
        if prop.unique or (self.contract.primary_key == (name,)):
            self.add(
                f"{name}.unique",
                name,
                "unique",
                "ExpectColumnValuesToBeUnique",
                column=self.typed_col(prop),
            )
        self.range_rules(prop)
        self.custom_rules(prop)

    def range_rules(self, prop: Property) -> None:
        opts = prop.options
        lo, hi = opts.get("minimum"), opts.get("maximum")
        if lo is None and hi is None:
            return
        strict_lo = bool(opts.get("exclusiveMinimum"))
        strict_hi = bool(opts.get("exclusiveMaximum"))
        left = "" if lo is None else f"{lo} {'<' if strict_lo else '≤'} "
        right = "" if hi is None else f" {'<' if strict_hi else '≤'} {hi}"
        self.add(
            f"{prop.name}.range",
            prop.name,
            f"{left}x{right}",
            "ExpectColumnValuesToBeBetween",
            column=self.typed_col(prop),
            min_value=lo,
            max_value=hi,
            strict_min=strict_lo,
            strict_max=strict_hi,
        )

    def custom_rules(self, prop: Property) -> None:
        name, custom = prop.name, prop.custom
        typed = typed_expr(prop, self.columns[name])
        multiple = prop.options.get("multipleOf")
        if multiple is not None:
            self.add(
                f"{name}.multiple_of",
                name,
                f"a multiple of {multiple}",
                "",
                flag=_const(typed % multiple == 0),
            )
        if "notEqualTo" in custom:
            value = custom["notEqualTo"]
            self.add(
                f"{name}.not_equal",
                name,
                f"≠ {value}",
                "",
                flag=_const(typed != value),
            )
        kind = custom.get("checkDigit")
        if kind is not None:
            self.add(
                f"{name}.check_digit",
                name,
                f"valid {str(kind).upper()} check digit",
                "",
                flag=_check_digit(name, str(kind)),
            )
        target = custom.get("references")
        if target is not None:
            table, _, key = str(target).partition(".")
            values = self.env.reference(table, key)
            if values is None:
                self.skipped.append(f"{name}: references {target} not checked, {table} unreadable")
            else:
                self.add(
                    f"{name}.references_{table}",
                    name,
                    f"exists in {table}.{key}",
                    "",
                    flag=_const(pl.col(name).is_in(values.implode())),
                )
        compare = custom.get("compareToBusinessDate")
        if compare is not None:
            day = self.env.business_date
            ops: dict[str, tuple[str, Callable[[pl.Expr], pl.Expr]]] = {
                "eq": ("=", lambda t: t == day),
                "ge": ("≥", lambda t: t >= day),
                "gt": (">", lambda t: t > day),
            }
            symbol, test = ops[str(compare)]
            self.add(
                f"{name}.business_date_{compare}",
                name,
                f"{symbol} business date {day.isoformat()}",
                "",
                flag=_const(test(typed)),
            )
        other = custom.get("lessThanColumn")
        if other is not None and other in self.columns:
            other_typed = typed_expr(self.contract.prop(str(other)), self.columns[str(other)])
            self.add(
                f"{name}.less_than_{other}",
                name,
                f"< {other}",
                "",
                flag=_const(typed < other_typed),
            )

    def table_rules(self) -> None:
        key = self.contract.primary_key
        if len(key) > 1 and all(k in self.columns for k in key):
            props = [self.contract.prop(k) for k in key]
            self.add(
                "primary_key.unique",
                ",".join(key),
                f"({', '.join(key)}) unique",
                "ExpectCompoundColumnsToBeUnique",
                column_list=[self.typed_col(p) for p in props],
            )
        for q in self.contract.quality:
            if q.metric == "rowCount":
                lo = q.operators.get("mustBeGreaterOrEqualTo")
                if "mustBeGreaterThan" in q.operators:
                    lo = q.operators["mustBeGreaterThan"] + 1
                hi = q.operators.get("mustBeLessOrEqualTo")
                if "mustBe" in q.operators:
                    lo = hi = q.operators["mustBe"]
                self.add(
                    q.name,
                    None,
                    q.description or f"row count ≥ {lo:g}" if lo is not None else "row count",
                    "ExpectTableRowCountToBeBetween",
                    q.severity,
                    min_value=int(lo) if lo is not None else None,
                    max_value=int(hi) if hi is not None else None,
                )
            elif q.implementation == "coversAccountsWithPositions":
                self.coverage_rule(q.name, q.severity, q.custom, q.description)
        for q in self.contract.quality:
            if q.implementation == "unknownColumns":
                declared = {p.name for p in self.contract.properties}
                known = sorted(declared & set(self.columns))
                self.add(
                    q.name,
                    None,
                    q.description or "no columns beyond those of the contract",
                    "ExpectTableColumnsToMatchSet",
                    q.severity,
                    column_set=known,
                    exact_match=True,
                )

    def coverage_rule(
        self, rule: str, severity: Severity, custom: Mapping[str, Any], description: str
    ) -> None:
        parts: list[pl.Series] = []
        for source in custom.get("positionSources", []):
            table, _, key = str(source).partition(".")
            values = self.env.reference(table, key)
            if values is None:
                self.skipped.append(f"{rule}: {table} unreadable, not checked against it")
                continue
            parts.append(values.cast(pl.String))
        if "account_id" not in self.columns:
            return
        if not parts:
            return
        needed = pl.concat(parts).unique().sort().to_frame("account_id")

        def subject(raw: pl.DataFrame) -> pl.DataFrame:
            # The rule is about the accounts with positions, so GX checks one row per such
            # account; a 200k-value set inside an expectation would be copied by GX per metric.
            present = raw["account_id"].drop_nulls().unique().implode()
            return needed.with_columns(pl.col("account_id").is_in(present).alias(flag_column))

        flag_column = FLAG_PREFIX + rule
        self.add(
            rule,
            "account_id",
            description or "every account with positions has a row",
            "ExpectColumnValuesToBeInSet",
            severity,
            column=flag_column,
            value_set=[True],
        )
        self.rules[-1] = dataclasses.replace(self.rules[-1], subject=subject)


def compile_contract(contract: Contract, env: CompileEnv) -> CompiledContract:
    """Compile an ODCS contract into GX expectations for one file (SPEC §3)."""
    builder = _Builder(contract, env)
    for prop in contract.properties:
        builder.property_rules(prop)
    builder.table_rules()
    raw_dtypes = {p.name: builder.columns.get(p.name, pl.String()) for p in contract.properties}
    return CompiledContract(
        contract=contract,
        rules=tuple(builder.rules),
        typed_columns=tuple(builder.typed),
        skipped=tuple(builder.skipped),
        raw_dtypes=raw_dtypes,
    )
