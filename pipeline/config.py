"""Parameter files -> frozen dataclasses, and the effective-date selection rule (SPEC §2.10).

Each section of the file is parsed by its own dataclass's `parse`, every field beside the check
it must pass (`number(lo=0, hi=1)`, `one_of(...)`, a list of `number(...)`); a `Node` reads the
section and collects each problem instead of stopping, so a malformed file is refused once, with
every problem listed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pipeline.errors import ParameterError
from pipeline.resources import SHIPPED_PARAMS_DIR

SECURITY_TYPES = ("BILL", "NOTE", "BOND", "TIPS", "FRN", "STRIPS")

T = TypeVar("T")
Problems = list[str]
# A check reads one raw YAML value found at `where`: it returns the typed value, or records a
# problem and returns a neutral stand-in so parsing goes on.
Check = Callable[[Any, str, Problems], T]


# ---- checks: one per kind of field ---------------------------------------------------------


def number(
    lo: float | None = None, hi: float | None = None, *, above: bool = False, below: bool = False
) -> Check[float]:
    """A number in [lo, hi]; `above` / `below` make lo / hi exclusive."""
    low = "" if lo is None else f"{lo} {'<' if above else '<='} "
    high = "" if hi is None else f" {'<' if below else '<='} {hi}"
    expected = f"{low}x{high}"

    def check(value: Any, where: str, problems: Problems) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{where}: expected a number, found {value!r}")
            return 0.0
        x = float(value)
        too_low = lo is not None and (x < lo or (above and x == lo))
        too_high = hi is not None and (x > hi or (below and x == hi))
        if too_low or too_high:
            problems.append(f"{where}: {x} is out of range (expected {expected})")
        return x

    return check


def whole(lo: int) -> Check[int]:
    """A whole number >= lo."""

    def check(value: Any, where: str, problems: Problems) -> int:
        x = number(lo)(value, where, problems)
        if x != int(x):
            problems.append(f"{where}: {x} is not a whole number")
        return int(x)

    return check


def one_of(options: tuple[str, ...]) -> Check[str]:
    """One of the listed strings."""

    def check(value: Any, where: str, problems: Problems) -> str:
        if value not in options:
            problems.append(f"{where}: {value!r} is not one of {list(options)}")
            return options[0] if options else ""
        return str(value)

    return check


def text(value: Any, where: str, problems: Problems) -> str:
    """A scalar read as text (`version: 2026.11` is the string '2026.11')."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.append(f"{where}: expected a string, found {value!r}")
    return str(value)


def iso_date(value: Any, where: str, problems: Problems) -> dt.date:
    """A date, as YAML writes it or as an ISO string."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    problems.append(f"{where}: {value!r} is not an ISO date YYYY-MM-DD")
    return dt.date.min


# A decimal(20,2) amount holds at most 18 digits before the point (SPEC §7).
_MONEY_LIMIT = decimal.Decimal(10) ** 18
_CENT = decimal.Decimal("0.01")


def money(value: Any, where: str, problems: Problems) -> decimal.Decimal:
    """A non-negative amount in whole cents that fits decimal(20,2) (SPEC §7)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where}: expected a number, found {value!r}")
        return decimal.Decimal(0)
    # str() of a YAML float is its shortest repr, so 500000000.5 stays exactly that.
    amount = decimal.Decimal(str(value))
    if not amount.is_finite() or amount < 0 or amount >= _MONEY_LIMIT:
        problems.append(f"{where}: {value!r} is out of range (expected 0 <= amount < 1e18)")
        return decimal.Decimal(0)
    if amount != amount.quantize(_CENT):
        problems.append(f"{where}: {value!r} has more than 2 decimal places")
        return decimal.Decimal(0)
    return amount.quantize(_CENT)


def section(parse: Callable[[Node], T]) -> Check[T]:
    """A nested mapping parsed by a dataclass's `parse`."""
    return lambda value, where, problems: parse(Node(value, where, problems))


class Node:
    """One mapping of the parameter file at `where` (say `.cme.products.ZN`), read field by field.

    A missing field or one that fails its check is recorded in `problems`, shared by the whole
    file; the field then reads as a stand-in and parsing goes on.
    """

    def __init__(self, raw: Any, where: str, problems: Problems) -> None:
        if not isinstance(raw, dict):
            problems.append(f"{where or '.'}: expected a mapping, found {raw!r}")
            raw = {}
        self.raw: dict[Any, Any] = raw
        self.where = where
        self.problems = problems

    def at(self, key: object) -> str:
        return f"{self.where}.{key}"

    def problem(self, detail: str, key: object | None = None) -> None:
        self.problems.append(f"{self.where if key is None else self.at(key)}: {detail}")

    def field(self, key: str, check: Check[T], default: T | None = None) -> T:
        """Field `key` passed through `check`; absent, it is `default` or else a problem."""
        if key in self.raw:
            return check(self.raw[key], self.at(key), self.problems)
        if default is not None:
            return default
        self.problem("missing", key)
        return check(None, self.at(key), [])

    def items(self, key: str, check: Check[T]) -> tuple[T, ...]:
        """Field `key`, a list: each entry `i` passed through `check` at `key[i]`."""
        value = self.field(key, _as_list)
        return tuple(check(v, f"{self.at(key)}[{i}]", self.problems) for i, v in enumerate(value))

    def entries(self, key: str, check: Check[T]) -> dict[str, T]:
        """Field `key`, a mapping: each value passed through `check` at `key.name`."""
        node = self.field(key, section(lambda n: n))
        return {str(k): check(v, node.at(k), self.problems) for k, v in node.raw.items()}


def _as_list(value: Any, where: str, problems: Problems) -> list[Any]:
    if not isinstance(value, list):
        if value is not None:
            problems.append(f"{where}: expected a list, found {value!r}")
        return []
    return value


# ---- the sections of the file ----------------------------------------------------------------


@dataclass(frozen=True)
class FiccParams:
    """FICC sensitivity VaR and its floor (SPEC §5.1)."""

    var_confidence: float
    min_scenarios: int
    floor_fraction: float
    floor_shock_bp: tuple[float, ...]

    @classmethod
    def parse(cls, node: Node, n_tenors: int) -> FiccParams:
        shocks = node.items("floor_shock_bp", number(lo=0))
        if len(shocks) != n_tenors:
            node.problem(f"{len(shocks)} entries for {n_tenors} key-rate tenors", "floor_shock_bp")
        return cls(
            var_confidence=node.field("var_confidence", number(lo=0, hi=1, above=True)),
            min_scenarios=node.field("min_scenarios", whole(lo=1)),
            floor_fraction=node.field("floor_fraction", number(lo=0, hi=1)),
            floor_shock_bp=shocks,
        )


@dataclass(frozen=True)
class XmParams:
    """What the cross-margining arrangement covers and its cap (SPEC §5.3)."""

    max_reduction: float
    eligible_ficc_types: tuple[str, ...]
    min_remaining_years: float
    eligible_cme_products: tuple[str, ...]

    @classmethod
    def parse(cls, node: Node) -> XmParams:
        return cls(
            max_reduction=node.field("max_reduction", number(lo=0, hi=1)),
            eligible_ficc_types=node.items("eligible_ficc_types", one_of(SECURITY_TYPES)),
            min_remaining_years=node.field("min_remaining_years", number(lo=0)),
            # Checked against cme.products once that section is read (Params.parse).
            eligible_cme_products=node.items("eligible_cme_products", text),
        )


@dataclass(frozen=True)
class ProductParams:
    """A CME product's scanned yield move and calendar-spread charge, in bp (SPEC §5.2)."""

    scan_bp: float
    intra_bp: float

    @classmethod
    def parse(cls, node: Node) -> ProductParams:
        return cls(
            scan_bp=node.field("scan_bp", number(lo=0)),
            intra_bp=node.field("intra_bp", number(lo=0)),
        )


@dataclass(frozen=True)
class CashBucket:
    """Cash Treasuries with remaining years in (lo, hi] count as `product` (SPEC §5.2)."""

    lo: float
    hi: float
    product: str

    @classmethod
    def parse(cls, node: Node, products: tuple[str, ...]) -> CashBucket:
        bucket = cls(
            lo=node.field("lo", number(lo=0)),
            hi=node.field("hi", number(lo=0)),
            product=node.field("product", one_of(products)),
        )
        if bucket.hi <= bucket.lo:
            node.problem(f"hi {bucket.hi} must exceed lo {bucket.lo}")
        return bucket


@dataclass(frozen=True)
class InterSpread:
    """An inter-commodity spread between products `a` and `b` and its credit (SPEC §5.2)."""

    a: str
    b: str
    credit: float

    @classmethod
    def parse(cls, node: Node, products: tuple[str, ...]) -> InterSpread:
        spread = cls(
            a=node.field("a", one_of(products)),
            b=node.field("b", one_of(products)),
            credit=node.field("credit", number(lo=0, hi=1)),
        )
        if node.raw.get("a") is not None and node.raw.get("a") == node.raw.get("b"):
            node.problem(f"legs must differ, found {spread.a!r} twice")
        return spread


PRODUCT_CODE = re.compile(r"[A-Z0-9]{1,12}")


@dataclass(frozen=True)
class CmeParams:
    """The CME SPAN proxy: products, cash buckets, spreads in priority order (SPEC §5.2).

    `products` is the product universe of the dates this file is in force for: the contract
    master may list only these (its enum is read from here), and their order in the file is the
    combined-commodity (CC) column order of the CME model. A file effective later may add a
    product without touching the files before it.
    """

    hrp_initial_ratio: float
    products: dict[str, ProductParams]
    cash_mapping: tuple[CashBucket, ...]
    inter_spreads: tuple[InterSpread, ...]

    @property
    def product_codes(self) -> tuple[str, ...]:
        """The product universe, in CC order."""
        return tuple(self.products)

    @property
    def cc_index(self) -> dict[str, int]:
        """Product code -> its CC column (SPEC §5.2: a combined commodity is one product)."""
        return {code: i for i, code in enumerate(self.products)}

    @classmethod
    def parse(cls, node: Node) -> CmeParams:
        products = node.entries("products", section(ProductParams.parse))
        bad = [code for code in products if not PRODUCT_CODE.fullmatch(code)]
        if bad:
            node.problem(f"codes {bad} are not 1-12 upper-case letters or digits", "products")
        if not products and "products" in node.raw:
            node.problem("expected at least one product", "products")
        known = tuple(products)
        buckets = node.items("cash_mapping", section(lambda n: CashBucket.parse(n, known)))
        # Buckets tile the remaining years: each starts where the one before it ends.
        for prev, nxt in itertools.pairwise(buckets):
            if nxt.lo != prev.hi:
                node.problem(f"gap or overlap at {prev.hi} / {nxt.lo}", "cash_mapping")
        return cls(
            hrp_initial_ratio=node.field("hrp_initial_ratio", number(lo=1)),
            products=products,
            cash_mapping=buckets,
            inter_spreads=node.items(
                "inter_spreads", section(lambda n: InterSpread.parse(n, known))
            ),
        )


@dataclass(frozen=True)
class CustomerParams:
    """Margin calls (SPEC §5.4)."""

    min_call_amount: float

    @classmethod
    def parse(cls, node: Node) -> CustomerParams:
        return cls(min_call_amount=node.field("min_call_amount", number(lo=0)))


# SPEC §2.10: `reserve.daily_threshold` is optional; absent, it takes this default (§10.3).
DEFAULT_DAILY_THRESHOLD = decimal.Decimal("500000000.00")
FREQUENCIES = ("DAILY", "WEEKLY")


@dataclass(frozen=True)
class ReserveParams:
    """Rule 15c3-3 Exhibit A method, frequency and debit reductions (SPEC §6)."""

    net_capital_method: str
    computation_frequency: str
    alternative_reduction_pct: dict[str, float]
    basic_reduction_pct: float
    pab_reduction_pct: float
    daily_threshold: decimal.Decimal  # SPEC §10.3, whole cents

    @classmethod
    def parse(cls, node: Node) -> ReserveParams:
        percent = number(lo=0, hi=100)

        def by_frequency(n: Node) -> dict[str, float]:
            return {freq: n.field(freq, percent) for freq in ("WEEKLY", "DAILY")}

        return cls(
            net_capital_method=node.field("net_capital_method", one_of(("ALTERNATIVE", "BASIC"))),
            computation_frequency=node.field("computation_frequency", one_of(FREQUENCIES)),
            alternative_reduction_pct=node.field(
                "alternative_reduction_pct", section(by_frequency)
            ),
            basic_reduction_pct=node.field("basic_reduction_pct", percent),
            pab_reduction_pct=node.field("pab_reduction_pct", percent),
            daily_threshold=node.field("daily_threshold", money, DEFAULT_DAILY_THRESHOLD),
        )


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

    @classmethod
    def parse(cls, node: Node, source: Path, sha256: str) -> Params:
        tenors = node.items("key_rate_tenors", number(lo=0, above=True))
        if not tenors or any(b <= a for a, b in itertools.pairwise(tenors)):
            node.problem("expected a non-empty strictly increasing list", "key_rate_tenors")
        params = cls(
            version=node.field("version", text),
            effective_from=node.field("effective_from", iso_date),
            key_rate_tenors=tenors,
            ficc=node.field("ficc", section(lambda n: FiccParams.parse(n, len(tenors)))),
            xm=node.field("xm", section(XmParams.parse)),
            cme=node.field("cme", section(CmeParams.parse)),
            customer=node.field("customer", section(CustomerParams.parse)),
            reserve=node.field("reserve", section(ReserveParams.parse)),
            source=source,
            sha256=sha256,
        )
        # XM covers products of this file's universe only.
        if params.cme.products:
            in_universe = one_of(params.cme.product_codes)
            for i, code in enumerate(params.xm.eligible_cme_products):
                in_universe(code, f".xm.eligible_cme_products[{i}]", node.problems)
        return params


def tenor_column(tenor: float) -> str:
    """Column name of a tenor in its shortest form: 0.25 -> dy_0_25, 1.0 -> dy_1 (SPEC §2.7)."""
    text = f"{tenor:g}"
    return "dy_" + text.replace(".", "_")


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
    problems: Problems = []
    params = Params.parse(
        Node(doc, "", problems), path.resolve(), hashlib.sha256(raw_bytes).hexdigest()
    )
    if problems:
        listing = "\n  ".join(problems)
        raise ParameterError(f"parameter file {path} is malformed:\n  {listing}")
    return params


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
