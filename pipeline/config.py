"""Parameter files -> frozen dataclasses, and the effective-date selection rule (SPEC §2.10)."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ParameterError
from pipeline.resources import SHIPPED_PARAMS_DIR

FUTURES_PRODUCTS = ("ZT", "Z3N", "ZF", "ZN", "TN", "TWE", "ZB", "UB", "SR3", "SR1", "ZQ")
SECURITY_TYPES = ("BILL", "NOTE", "BOND", "TIPS", "FRN", "STRIPS")

# SPEC §2.10: `reserve.daily_threshold` is optional; absent, it takes this default (§10.3).
DEFAULT_DAILY_THRESHOLD = decimal.Decimal("500000000.00")
# A decimal(20,2) amount holds at most 18 digits before the point (SPEC §7).
_MONEY_LIMIT = decimal.Decimal(10) ** 18


@dataclass(frozen=True)
class FiccParams:
    var_confidence: float
    min_scenarios: int
    floor_fraction: float
    floor_shock_bp: tuple[float, ...]


@dataclass(frozen=True)
class XmParams:
    max_reduction: float
    eligible_ficc_types: tuple[str, ...]
    min_remaining_years: float
    eligible_cme_products: tuple[str, ...]


@dataclass(frozen=True)
class ProductParams:
    scan_bp: float
    intra_bp: float


@dataclass(frozen=True)
class CashBucket:
    lo: float
    hi: float
    product: str


@dataclass(frozen=True)
class InterSpread:
    a: str
    b: str
    credit: float


@dataclass(frozen=True)
class CmeParams:
    hrp_initial_ratio: float
    products: dict[str, ProductParams]
    cash_mapping: tuple[CashBucket, ...]
    inter_spreads: tuple[InterSpread, ...]


@dataclass(frozen=True)
class CustomerParams:
    min_call_amount: float


@dataclass(frozen=True)
class ReserveParams:
    net_capital_method: str
    computation_frequency: str
    alternative_reduction_pct: dict[str, float]
    basic_reduction_pct: float
    pab_reduction_pct: float
    daily_threshold: decimal.Decimal  # SPEC §10.3, whole cents


@dataclass(frozen=True)
class Params:
    """The whole parameter file, typed; `source` and `sha256` identify it in the manifest."""

    version: str
    effective_from: dt.date
    key_rate_tenors: tuple[float, ...]
    ficc: FiccParams
    xm: XmParams
    cme: CmeParams
    customer: CustomerParams
    reserve: ReserveParams
    source: Path
    sha256: str

    @property
    def tenor_columns(self) -> tuple[str, ...]:
        """Scenario column names for the key-rate tenors (SPEC §2.7): 0.25 -> dy_0_25, 1 -> dy_1."""
        return tuple(tenor_column(t) for t in self.key_rate_tenors)


def tenor_column(tenor: float) -> str:
    """Column name of a tenor in its shortest form: 0.25 -> dy_0_25, 1.0 -> dy_1 (SPEC §2.7)."""
    text = f"{tenor:g}"
    return "dy_" + text.replace(".", "_")


class _Reader:
    """Reads typed values out of the raw YAML mapping, collecting every problem before failing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def get(self, node: Any, key: str, where: str) -> Any:
        if not isinstance(node, dict) or key not in node:
            self.problems.append(f"{where}.{key}: missing")
            return None
        return node[key]

    def number(
        self,
        node: Any,
        key: str,
        where: str,
        lo: float | None = None,
        hi: float | None = None,
        hi_open: bool = False,
    ) -> float:
        value = self.get(node, key, where)
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{where}.{key}: expected a number, found {value!r}")
            return 0.0
        number = float(value)
        if lo is not None and number < lo:
            self.problems.append(f"{where}.{key}: {number} is below the minimum {lo}")
        if hi is not None and (number > hi or (hi_open and number >= hi)):
            bound = f"< {hi}" if hi_open else f"<= {hi}"
            self.problems.append(f"{where}.{key}: {number} is out of range (expected {bound})")
        return number

    def money(self, node: Any, key: str, where: str, default: decimal.Decimal) -> decimal.Decimal:
        """An optional non-negative amount in whole cents that fits decimal(20,2) (SPEC §7)."""
        if not isinstance(node, dict) or key not in node:
            return default
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{where}.{key}: expected a number, found {value!r}")
            return default
        # str() of a YAML float is its shortest repr, so 500000000.5 stays exactly that.
        amount = decimal.Decimal(str(value))
        if not amount.is_finite() or amount < 0 or amount >= _MONEY_LIMIT:
            self.problems.append(
                f"{where}.{key}: {value!r} is out of range (expected 0 <= amount < 1e18)"
            )
            return default
        if amount != amount.quantize(decimal.Decimal("0.01")):
            self.problems.append(f"{where}.{key}: {value!r} has more than 2 decimal places")
            return default
        return amount.quantize(decimal.Decimal("0.01"))

    def choice(self, node: Any, key: str, where: str, options: tuple[str, ...]) -> str:
        value = self.get(node, key, where)
        if value not in options:
            if value is not None:
                self.problems.append(f"{where}.{key}: {value!r} is not one of {list(options)}")
            return options[0]
        return str(value)

    def strings(self, node: Any, key: str, where: str, options: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(node, key, where)
        if not isinstance(value, list):
            if value is not None:
                self.problems.append(f"{where}.{key}: expected a list")
            return ()
        bad = [v for v in value if v not in options]
        if bad:
            self.problems.append(f"{where}.{key}: unknown entries {bad}")
        return tuple(str(v) for v in value)


def load_params(path: Path) -> Params:
    """Parse and check one parameter file; any problem raises ParameterError listing them all."""
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise ParameterError(f"parameter file {path}: cannot be read ({exc})") from exc
    try:
        doc = yaml.safe_load(raw_bytes.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ParameterError(f"parameter file {path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise ParameterError(f"parameter file {path}: expected a mapping at the top level")
    r = _Reader(path)

    version = r.get(doc, "version", "")
    if version is not None and not isinstance(version, str | int | float):
        r.problems.append(".version: expected a string")
    effective = r.get(doc, "effective_from", "")
    if isinstance(effective, str):
        try:
            effective = dt.date.fromisoformat(effective)
        except ValueError:
            r.problems.append(f".effective_from: {effective!r} is not an ISO date")
            effective = None
    if effective is not None and not isinstance(effective, dt.date):
        r.problems.append(".effective_from: expected a date")
        effective = None

    tenors_raw = r.get(doc, "key_rate_tenors", "")
    tenors: tuple[float, ...] = ()
    if isinstance(tenors_raw, list) and all(
        isinstance(t, int | float) and not isinstance(t, bool) for t in tenors_raw
    ):
        tenors = tuple(float(t) for t in tenors_raw)
        if len(tenors) < 1 or any(b <= a for a, b in itertools.pairwise(tenors)):
            r.problems.append(".key_rate_tenors: expected a non-empty strictly increasing list")
        if any(t <= 0 for t in tenors):
            r.problems.append(".key_rate_tenors: tenors must be positive")
    elif tenors_raw is not None:
        r.problems.append(".key_rate_tenors: expected a list of numbers")

    f = r.get(doc, "ficc", "")
    shocks_raw = r.get(f, "floor_shock_bp", ".ficc") if f is not None else None
    shocks: tuple[float, ...] = ()
    if isinstance(shocks_raw, list) and all(
        isinstance(s, int | float) and not isinstance(s, bool) and s >= 0 for s in shocks_raw
    ):
        shocks = tuple(float(s) for s in shocks_raw)
        if len(shocks) != len(tenors):
            r.problems.append(
                f".ficc.floor_shock_bp: {len(shocks)} entries for {len(tenors)} key-rate tenors"
            )
    elif shocks_raw is not None:
        r.problems.append(".ficc.floor_shock_bp: expected a list of non-negative numbers")
    min_scen = r.number(f, "min_scenarios", ".ficc", lo=1)
    if min_scen != int(min_scen):
        r.problems.append(".ficc.min_scenarios: expected a whole number")
    ficc = FiccParams(
        var_confidence=r.number(f, "var_confidence", ".ficc", lo=0, hi=1, hi_open=False),
        min_scenarios=int(min_scen),
        floor_fraction=r.number(f, "floor_fraction", ".ficc", lo=0, hi=1),
        floor_shock_bp=shocks,
    )
    if ficc.var_confidence <= 0:
        r.problems.append(".ficc.var_confidence: must be in (0, 1]")

    x = r.get(doc, "xm", "")
    xm = XmParams(
        max_reduction=r.number(x, "max_reduction", ".xm", lo=0, hi=1),
        eligible_ficc_types=r.strings(x, "eligible_ficc_types", ".xm", SECURITY_TYPES),
        min_remaining_years=r.number(x, "min_remaining_years", ".xm", lo=0),
        eligible_cme_products=r.strings(x, "eligible_cme_products", ".xm", FUTURES_PRODUCTS),
    )

    c = r.get(doc, "cme", "")
    products: dict[str, ProductParams] = {}
    prod_raw = r.get(c, "products", ".cme") if c is not None else None
    if isinstance(prod_raw, dict):
        for code, spec in prod_raw.items():
            if code not in FUTURES_PRODUCTS:
                r.problems.append(f".cme.products: unknown product {code!r}")
                continue
            products[code] = ProductParams(
                scan_bp=r.number(spec, "scan_bp", f".cme.products.{code}", lo=0),
                intra_bp=r.number(spec, "intra_bp", f".cme.products.{code}", lo=0),
            )
        missing = [p for p in FUTURES_PRODUCTS if p not in products]
        if missing:
            r.problems.append(f".cme.products: no entry for {missing}")
    elif prod_raw is not None:
        r.problems.append(".cme.products: expected a mapping")
    buckets: list[CashBucket] = []
    map_raw = r.get(c, "cash_mapping", ".cme") if c is not None else None
    if isinstance(map_raw, list):
        for i, b in enumerate(map_raw):
            where = f".cme.cash_mapping[{i}]"
            product = r.choice(b, "product", where, FUTURES_PRODUCTS)
            lo = r.number(b, "lo", where, lo=0)
            hi = r.number(b, "hi", where, lo=0)
            if hi <= lo:
                r.problems.append(f"{where}: hi {hi} must exceed lo {lo}")
            buckets.append(CashBucket(lo=lo, hi=hi, product=product))
        for prev, nxt in itertools.pairwise(buckets):
            if nxt.lo != prev.hi:
                r.problems.append(f".cme.cash_mapping: gap or overlap at {prev.hi} / {nxt.lo}")
    elif map_raw is not None:
        r.problems.append(".cme.cash_mapping: expected a list")
    spreads: list[InterSpread] = []
    spr_raw = r.get(c, "inter_spreads", ".cme") if c is not None else None
    if isinstance(spr_raw, list):
        for i, s in enumerate(spr_raw):
            where = f".cme.inter_spreads[{i}]"
            a = r.choice(s, "a", where, FUTURES_PRODUCTS)
            b = r.choice(s, "b", where, FUTURES_PRODUCTS)
            if a == b:
                r.problems.append(f"{where}: legs must differ")
            spreads.append(InterSpread(a=a, b=b, credit=r.number(s, "credit", where, lo=0, hi=1)))
    elif spr_raw is not None:
        r.problems.append(".cme.inter_spreads: expected a list")
    cme = CmeParams(
        hrp_initial_ratio=r.number(c, "hrp_initial_ratio", ".cme", lo=1),
        products=products,
        cash_mapping=tuple(buckets),
        inter_spreads=tuple(spreads),
    )

    cu = r.get(doc, "customer", "")
    customer = CustomerParams(min_call_amount=r.number(cu, "min_call_amount", ".customer", lo=0))

    rs = r.get(doc, "reserve", "")
    alt_raw = r.get(rs, "alternative_reduction_pct", ".reserve") if rs is not None else None
    alt: dict[str, float] = {}
    if isinstance(alt_raw, dict):
        for freq in ("WEEKLY", "DAILY"):
            alt[freq] = r.number(alt_raw, freq, ".reserve.alternative_reduction_pct", lo=0, hi=100)
    elif alt_raw is not None:
        r.problems.append(".reserve.alternative_reduction_pct: expected a mapping")
    reserve = ReserveParams(
        net_capital_method=r.choice(rs, "net_capital_method", ".reserve", ("ALTERNATIVE", "BASIC")),
        computation_frequency=r.choice(
            rs, "computation_frequency", ".reserve", ("DAILY", "WEEKLY")
        ),
        alternative_reduction_pct=alt,
        basic_reduction_pct=r.number(rs, "basic_reduction_pct", ".reserve", lo=0, hi=100),
        pab_reduction_pct=r.number(rs, "pab_reduction_pct", ".reserve", lo=0, hi=100),
        daily_threshold=r.money(rs, "daily_threshold", ".reserve", DEFAULT_DAILY_THRESHOLD),
    )

    if r.problems:
        listing = "\n  ".join(r.problems)
        raise ParameterError(f"parameter file {path} is malformed:\n  {listing}")
    assert isinstance(effective, dt.date)
    return Params(
        version=str(version),
        effective_from=effective,
        key_rate_tenors=tenors,
        ficc=ficc,
        xm=xm,
        cme=cme,
        customer=customer,
        reserve=reserve,
        source=path.resolve(),
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
    )


def select_params(
    business_date: dt.date, data_root: Path | None, explicit: Path | None = None
) -> Params:
    """The parameter file in force on D (SPEC §2.10): newest effective_from <= D."""
    if explicit is not None:
        return load_params(explicit)
    candidates: list[tuple[dt.date, int, Params]] = []
    dirs = [(SHIPPED_PARAMS_DIR, 0)]
    if data_root is not None:
        dirs.append((data_root / "params", 1))
    for folder, rank in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            params = load_params(path)
            if params.effective_from <= business_date:
                candidates.append((params.effective_from, rank, params))
    if not candidates:
        raise ParameterError(
            f"no parameter file is effective on {business_date.isoformat()} "
            f"(looked in {', '.join(str(d) for d, _ in dirs)})"
        )
    candidates.sort(key=lambda c: (c[0], c[1]))
    return candidates[-1][2]
