"""Accounts, positions and balances of one chunk of accounts (SPEC §2.1, §2.3, §2.5, §2.6).

Positions are built from trades a Treasury desk's customers actually run, not from independent
random rows: DV01-hedged cash/futures basis trades, DV01-neutral cash and futures curve trades,
and outrights. Trades are netted per (account, security) and per (account, contract), and each
FICC net position is then broken into the unsettled rows FICC reports (several settlement dates,
sometimes another clearing member). Balances are set from a rough requirement estimate so that a
realistic minority of customers is called. Everything is vectorised over the chunk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from pipeline.generate.identifiers import base36, lei_check_digits
from pipeline.generate.products import specs_for
from pipeline.generate.writers import boolean, fixed

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

ACCOUNT_COLUMNS = (
    "account_id",
    "customer_lei",
    "account_class",
    "xm_opt_in_date",
    "subordination_agreement_date",
    "disclosure_ack_date",
    "hrp",
    "ficc_multiplier",
)
FICC_COLUMNS = (
    "business_date",
    "clearing_member_id",
    "account_id",
    "cusip",
    "settlement_date",
    "par_amount",
)
BALANCE_COLUMNS = (
    "account_id",
    "cash_balance",
    "securities_collateral_value",
    "collateral_haircut_pct",
    "ficc_margin_on_deposit",
    "debit_unsecured",
    "debit_doubtful",
)

# Registered LEI issuers' prefixes (GLEIF LOUs) so generated LEIs look like real ones.
_LEI_PREFIXES = np.array(["5493", "2138", "9695", "5299", "8156", "3157", "6354", "7245"])
_LEI_MULTIPLIERS = (1_524_317, 2_097_151)  # coprime to 36: entity -> code is one-to-one
_FIRM_MEMBER = "0905"
_OTHER_MEMBERS = np.array(["0187", "0352", "0443", "0636", "0790"])
_CME_CLEARING_FIRM = "905"
SETTLEMENT_DAYS = 6  # D and the next five business days
# Rough requirement per $ of DV01 (bp of a 3-day 99% move), only to size balances.
_EST_BP_NET, _EST_BP_GROSS = 25.0, 3.0
_MAX_LEG_PAR = 2_000_000_000


@dataclass(frozen=True)
class Universe:
    """Reference data a chunk draws from, resolved once per generated set."""

    business_date: dt.date
    n_accounts: int
    securities: pl.DataFrame  # cusip, security_type, dv01_per_100, years
    contracts: pl.DataFrame  # contract_id, product_code, maturity_month, dv01_per_contract, ...
    settlement_dates: tuple[dt.date, ...]
    lei_salt: tuple[int, int]
    # Trade pools, indices into securities / contracts (see `build_universe`).
    basis_cash: IntArray = field(repr=False)
    basis_future: IntArray = field(repr=False)
    basis_second: IntArray = field(repr=False)
    curve_short: IntArray = field(repr=False)
    curve_long: IntArray = field(repr=False)
    outright_weights: FloatArray = field(repr=False)
    future_weights: FloatArray = field(repr=False)
    future_pairs: IntArray = field(repr=False)


# Futures curve trades between two products; a pair is traded when both are listed.
_FUTURE_CURVES = (
    ("ZT", "ZF"),
    ("ZT", "ZN"),
    ("ZF", "ZN"),
    ("ZN", "ZB"),
    ("ZN", "TN"),
    ("ZB", "UB"),
    ("TWE", "UB"),
    ("TN", "UB"),
    ("Z3N", "ZN"),
    ("ZF", "TN"),
)


def build_universe(
    business_date: dt.date,
    n_accounts: int,
    securities: pl.DataFrame,
    contracts: pl.DataFrame,
    settlement_dates: tuple[dt.date, ...],
    rng: np.random.Generator,
) -> Universe:
    """Trade pools of SPEC §2.1/§2.3 books: which cash hedges with which future, what trades."""
    sec_type = securities["security_type"].to_numpy()
    years = securities["years"].to_numpy()
    product = contracts["product_code"].to_numpy()
    month = contracts["maturity_month"].to_numpy()
    listed_specs = specs_for(tuple(dict.fromkeys(product.tolist())))
    treasury = [spec for spec in listed_specs if spec.kind == "treasury"]

    def months_of(code: str) -> IntArray:
        idx = np.flatnonzero(product == code)
        return idx[np.argsort(month[idx], kind="stable")]

    coupon = np.isin(sec_type, ["NOTE", "BOND"])
    cash_idx: list[IntArray] = []
    front: list[IntArray] = []
    second: list[IntArray] = []
    # Cash in each Treasury future's band of remaining years (deliverable-like) hedges with it.
    for spec in sorted(treasury, key=lambda s: s.basis_years):
        lo, hi = spec.basis_years
        idx = np.flatnonzero(coupon & (years > lo) & (years <= hi))
        listed = months_of(spec.code)
        cash_idx.append(idx)
        front.append(np.full(len(idx), listed[0], dtype=np.int64))
        second.append(np.full(len(idx), listed[min(1, len(listed) - 1)], dtype=np.int64))

    # Outright interest concentrates in notes and bonds; bills, TIPS, FRNs, STRIPS less so.
    type_weight = {"NOTE": 4.0, "BOND": 2.5, "BILL": 1.5, "TIPS": 1.0, "FRN": 0.5, "STRIPS": 0.5}
    outright = np.array([type_weight[t] for t in sec_type], dtype=np.float64)

    fut_weight = np.zeros(len(product))
    for spec in listed_specs:
        listed = months_of(spec.code)
        if spec.kind == "treasury":
            fut_weight[listed] = np.array([3.0, 1.0, 0.2])[: len(listed)]
        else:
            fut_weight[listed] = 0.15 * spec.weight
            fut_weight[listed[: spec.active]] = spec.weight

    codes = {spec.code for spec in listed_specs}
    pairs = [(months_of(a)[0], months_of(b)[0]) for a, b in _FUTURE_CURVES if {a, b} <= codes]
    sr3 = months_of("SR3")
    pairs += [(sr3[i], sr3[i + 4]) for i in range(1, min(8, len(sr3) - 4))]
    return Universe(
        business_date=business_date,
        n_accounts=n_accounts,
        securities=securities,
        contracts=contracts,
        settlement_dates=settlement_dates,
        lei_salt=(int(rng.integers(0, 36**6)), int(rng.integers(0, 36**6))),
        basis_cash=np.concatenate(cash_idx),
        basis_future=np.concatenate(front),
        basis_second=np.concatenate(second),
        curve_short=np.flatnonzero(coupon & (years > 0.5) & (years <= 5.0)),
        curve_long=np.flatnonzero(coupon & (years > 5.0)),
        outright_weights=outright / outright.sum(),
        future_weights=fut_weight / fut_weight.sum(),
        future_pairs=np.array(pairs, dtype=np.int64),
    )


@dataclass(frozen=True)
class Chunk:
    """The rows one chunk of accounts adds to each file, already formatted as text."""

    accounts: pl.DataFrame
    ficc_positions: pl.DataFrame
    cme_reports: pl.DataFrame
    balances: pl.DataFrame
    basis_trades: pl.DataFrame  # account, cash_dv01, futures_dv01 of each basis trade (tests)
    reserve_totals: dict[str, float]


def _round_lot(par: FloatArray) -> IntArray:
    """Par rounded to a trading lot: $100,000 for institutional sizes, $1,000 below $5 million."""
    lot = np.where(np.abs(par) >= 5_000_000, 100_000, 1_000)
    out = (np.round(par / lot) * lot).astype(np.int64)
    # A trade is never for zero par: the smallest lot in the trade's direction.
    return np.where(out == 0, np.where(par < 0, -1_000, 1_000), out)


def _signs(rng: np.random.Generator, n: int, p_long: float) -> IntArray:
    return np.where(rng.random(n) < p_long, 1, -1).astype(np.int64)


def _account_ids(index: IntArray, width: int) -> pl.Series:
    """`ACCT-0000001` …: 1-based, zero-padded so ids sort like the account numbers."""
    digits = pl.Series("account_id", index + 1).cast(pl.Utf8).str.zfill(width)
    return "ACCT-" + digits


def _leis(entity: IntArray, salt: tuple[int, int]) -> npt.NDArray[np.str_]:
    """ISO 17442 LEIs of entities: LOU prefix, `00`, 12 entity characters, 2 check digits."""
    space = 36**6
    high = base36((entity * _LEI_MULTIPLIERS[0] + salt[0]) % space, 6)
    low = base36((entity * _LEI_MULTIPLIERS[1] + salt[1]) % space, 6)
    prefix = _LEI_PREFIXES[entity % len(_LEI_PREFIXES)]
    bases = np.char.add(np.char.add(np.char.add(prefix, "00"), high), low)
    return np.char.add(bases, lei_check_digits(bases))


def _accounts(
    u: Universe, first: int, n: int, rng: np.random.Generator
) -> tuple[pl.DataFrame, dict[str, npt.NDArray[np.generic]]]:
    """The account master rows of the chunk and the attributes the trades depend on."""
    d = np.datetime64(u.business_date, "D")
    index = np.arange(first, first + n, dtype=np.int64)
    draw = rng.random(n)
    klass = np.where(draw < 0.88, "CUSTOMER", np.where(draw < 0.95, "PAB", "HOUSE"))

    # XM documents: most opted-in customers have all three on or before D; some lack one (not
    # XM-active, an exception), some opted in for a date after D (not active yet).
    opt = rng.random(n)
    doc = rng.random(n)
    opted = np.where(
        klass == "CUSTOMER", opt < 0.35, np.where(klass == "HOUSE", opt < 0.65, opt < 0.1)
    )
    future = opted & (doc < 0.04)
    opt_in = d - rng.integers(1, 200, n).astype("timedelta64[D]")
    opt_in = np.where(future, d + rng.integers(1, 45, n).astype("timedelta64[D]"), opt_in)
    sub = opt_in - rng.integers(0, 30, n).astype("timedelta64[D]")
    ack = opt_in - rng.integers(0, 10, n).astype("timedelta64[D]")
    customer = klass == "CUSTOMER"
    has_sub = opted & customer & ~((doc >= 0.04) & (doc < 0.065))
    has_ack = opted & customer & ~((doc >= 0.065) & (doc < 0.09))
    xm_active = np.where(
        customer,
        opted & has_sub & has_ack & (opt_in <= d) & (sub <= d) & (ack <= d),
        (klass == "HOUSE") & opted & (opt_in <= d),
    )

    mult_draw = rng.random(n)
    multiplier = np.select(
        [mult_draw < 0.70, mult_draw < 0.85, mult_draw < 0.93, mult_draw < 0.98],
        [1.0, 1.25, 1.5, 2.0],
        np.round(rng.uniform(2.5, 5.0, n) * 4.0) / 4.0,
    )
    hrp = rng.random(n) < 0.08
    n_entities = max(1, int(u.n_accounts * 0.85))
    entity = rng.integers(0, n_entities, n, dtype=np.int64)
    width = max(7, len(str(u.n_accounts)))
    ids = _account_ids(index, width)

    def dates(values: npt.NDArray[np.datetime64], present: npt.NDArray[np.bool_]) -> pl.Expr:
        day = pl.lit(pl.Series(values.astype("datetime64[D]")).cast(pl.Date))
        return pl.when(pl.lit(pl.Series(present))).then(day).otherwise(None)

    frame = pl.DataFrame(
        {
            "account_id": ids,
            "customer_lei": _leis(entity, u.lei_salt),
            "account_class": klass,
        }
    ).with_columns(
        xm_opt_in_date=dates(opt_in, opted),
        subordination_agreement_date=dates(sub, has_sub),
        disclosure_ack_date=dates(ack, has_ack),
        hrp=boolean(pl.Series(hrp)),
        ficc_multiplier=fixed(pl.lit(pl.Series(multiplier)), 2),
    )
    attrs: dict[str, npt.NDArray[np.generic]] = {
        "class": klass,
        "xm_active": xm_active,
        "opted": opted,
        "hrp": hrp,
    }
    return frame, attrs


def build_chunk(u: Universe, first: int, n: int, first_rpt: int, rng: np.random.Generator) -> Chunk:
    """Accounts `first … first+n−1`: rows of SPEC §2.5, §2.1, §2.3 and §2.6, as text."""
    accounts, attrs = _accounts(u, first, n, rng)
    ids = accounts["account_id"]
    klass = attrs["class"]

    # Who trades what: both markets, cash only, futures only, a balance only, or nothing today.
    profile = rng.random(n)
    # The very first account trades both markets, so even a one-account set has a row in each
    # position file (SPEC §2: every file but balances and reserve_items needs a data row).
    profile[: 1 if first == 0 else 0] = 0.0
    both = profile < 0.78
    cash_ok = profile < 0.88
    fut_ok = both | ((profile >= 0.88) & (profile < 0.93))
    has_balance_only = (profile >= 0.93) & (profile < 0.97)
    activity = np.minimum(rng.lognormal(0.0, 0.8, n), 6.0)
    scale = np.where(klass == "HOUSE", 4.0, np.where(klass == "PAB", 1.5, 1.0))
    size = rng.lognormal(np.log(1_500.0), 1.0, n) * scale  # DV01 per trade, USD per bp

    n_basis = np.where(both, rng.poisson(activity * np.where(attrs["opted"], 4.0, 2.0)), 0)
    if first == 0:
        n_basis[0] = max(int(n_basis[0]), 1)
    n_ccurve = np.where(cash_ok, rng.poisson(activity * 2.5), 0)
    n_cout = np.where(cash_ok, rng.poisson(activity * 10.0), 0)
    n_fcurve = np.where(fut_ok, rng.poisson(activity * 2.0), 0)
    n_fout = np.where(fut_ok, rng.poisson(activity * 6.5), 0)
    n_cout = np.where(cash_ok & (n_basis + n_ccurve + n_cout == 0), 1, n_cout)
    n_fout = np.where(fut_ok & (n_basis + n_fcurve + n_fout == 0), 1, n_fout)

    sec_dv01 = u.securities["dv01_per_100"].to_numpy()
    fut_dv01 = u.contracts["dv01_per_contract"].to_numpy()
    cash_acct: list[IntArray] = []
    cash_sec: list[IntArray] = []
    cash_par: list[IntArray] = []
    fut_acct: list[IntArray] = []
    fut_con: list[IntArray] = []
    fut_qty: list[IntArray] = []

    def leg_size(acct: IntArray) -> FloatArray:
        out: FloatArray = size[acct] * rng.lognormal(0.0, 0.4, len(acct))
        return out

    # Basis: cash against the future whose deliverable bucket it sits in, hedged 1:1 in DV01.
    acct = np.repeat(np.arange(n), n_basis)
    pick = rng.integers(0, len(u.basis_cash), len(acct))
    sec = u.basis_cash[pick]
    con = np.where(rng.random(len(acct)) < 0.8, u.basis_future[pick], u.basis_second[pick])
    side = _signs(rng, len(acct), 0.6)
    qty = np.maximum(np.round(leg_size(acct) / fut_dv01[con]), 1).astype(np.int64)
    par = side * _round_lot(qty * fut_dv01[con] / sec_dv01[sec] * 100.0)
    cash_acct.append(acct)
    cash_sec.append(sec)
    cash_par.append(par)
    fut_acct.append(acct)
    fut_con.append(con)
    fut_qty.append(-side * qty)
    basis = pl.DataFrame(
        {
            "account_id": ids.gather(acct),
            "cusip": u.securities["cusip"].gather(sec),
            "contract_id": u.contracts["contract_id"].gather(con),
            "cash_dv01": par / 100.0 * sec_dv01[sec],
            "futures_dv01": -side * qty * fut_dv01[con],
        }
    )

    # Cash curve trades: a short and a long maturity, DV01-neutral (steepeners and flatteners).
    acct = np.repeat(np.arange(n), n_ccurve)
    short = u.curve_short[rng.integers(0, len(u.curve_short), len(acct))]
    long = u.curve_long[rng.integers(0, len(u.curve_long), len(acct))]
    side = _signs(rng, len(acct), 0.5)
    dv01 = leg_size(acct)
    cash_acct += [acct, acct]
    cash_sec += [short, long]
    cash_par += [
        side * _round_lot(dv01 / sec_dv01[short] * 100.0),
        -side * _round_lot(dv01 / sec_dv01[long] * 100.0),
    ]

    # Cash outrights, any security; bills and FRNs carry little DV01 per par, so cap the par.
    acct = np.repeat(np.arange(n), n_cout)
    sec = rng.choice(len(sec_dv01), len(acct), p=u.outright_weights)
    raw = np.minimum(leg_size(acct) / sec_dv01[sec] * 100.0, _MAX_LEG_PAR)
    cash_acct.append(acct)
    cash_sec.append(sec)
    cash_par.append(_signs(rng, len(acct), 0.65) * _round_lot(raw))

    # Futures curve trades (NOB, TUT, FOB, SOFR calendar spreads), DV01-neutral.
    acct = np.repeat(np.arange(n), n_fcurve)
    pair = u.future_pairs[rng.integers(0, len(u.future_pairs), len(acct))]
    side = _signs(rng, len(acct), 0.5)
    qa = np.maximum(np.round(leg_size(acct) / fut_dv01[pair[:, 0]]), 1).astype(np.int64)
    qb = np.maximum(np.round(qa * fut_dv01[pair[:, 0]] / fut_dv01[pair[:, 1]]), 1).astype(np.int64)
    fut_acct += [acct, acct]
    fut_con += [pair[:, 0], pair[:, 1]]
    fut_qty += [side * qa, -side * qb]

    # Futures outrights, front months and the SOFR strip most of all.
    acct = np.repeat(np.arange(n), n_fout)
    con = rng.choice(len(fut_dv01), len(acct), p=u.future_weights)
    qty = np.maximum(np.round(leg_size(acct) / fut_dv01[con]), 1).astype(np.int64)
    fut_acct.append(acct)
    fut_con.append(con)
    fut_qty.append(_signs(rng, len(acct), 0.55) * qty)

    cash = (
        pl.DataFrame(
            {
                "acct": np.concatenate(cash_acct),
                "sec": np.concatenate(cash_sec),
                "par": np.concatenate(cash_par),
            }
        )
        .group_by("acct", "sec")
        .agg(pl.col("par").sum())
        .sort("acct", "sec")
    )
    futs = (
        pl.DataFrame(
            {
                "acct": np.concatenate(fut_acct),
                "con": np.concatenate(fut_con),
                "qty": np.concatenate(fut_qty),
            }
        )
        .group_by("acct", "con")
        .agg(pl.col("qty").sum())
        .sort("acct", "con")
    )

    ficc = _ficc_rows(u, cash, ids, rng)
    cme = _cme_reports(u, futs, ids, first_rpt, rng)
    balances, totals = _balances(
        u, cash, futs, ids, attrs, has_balance_only, sec_dv01, fut_dv01, rng
    )
    return Chunk(
        accounts=accounts,
        ficc_positions=ficc,
        cme_reports=cme,
        balances=balances,
        basis_trades=basis,
        reserve_totals=totals,
    )


def _ficc_rows(
    u: Universe, cash: pl.DataFrame, ids: pl.Series, rng: np.random.Generator
) -> pl.DataFrame:
    """Break each net (account, cusip) into FICC's unsettled rows; the rows sum to the net."""
    net = cash["par"].to_numpy()
    n_pairs = len(net)
    k = 1 + np.minimum(rng.poisson(1.6, n_pairs), SETTLEMENT_DAYS - 1)
    pair = np.repeat(np.arange(n_pairs), k)
    start = np.cumsum(k) - k
    j = np.arange(len(pair)) - start[pair]
    last = j == k[pair] - 1

    p = net[pair].astype(np.float64)
    direction = np.where(p == 0, _signs(rng, len(pair), 0.5), np.sign(p)).astype(np.int64)
    # Most pending trades add to the position; some are sales against it.
    piece_sign = np.where(rng.random(len(pair)) < 0.8, direction, -direction)
    lot = np.where(np.abs(p) >= 10_000_000, 100_000, 1_000)
    magnitude = np.maximum(np.abs(p), 1_000.0) * rng.uniform(0.1, 0.6, len(pair))
    piece = piece_sign * (np.round(magnitude / lot) * lot).astype(np.int64)
    piece = np.where(last, 0, piece)
    others = np.bincount(pair, weights=piece, minlength=n_pairs).astype(np.int64)
    piece = np.where(last, net[pair] - others[pair], piece)

    # Distinct settlement dates per position, D+1 (regular settlement) the most likely.
    bias = np.array([0.1, 0.0, 0.2, 0.5, 0.7, 0.9])[None, :]
    order = np.argsort(rng.random((n_pairs, SETTLEMENT_DAYS)) + bias, axis=1)
    offset = order[pair, np.minimum(j, SETTLEMENT_DAYS - 1)]
    member = np.where(
        rng.random(len(pair)) < 0.9,
        _FIRM_MEMBER,
        _OTHER_MEMBERS[rng.integers(0, len(_OTHER_MEMBERS), len(pair))],
    )
    settle = pl.Series(list(u.settlement_dates), dtype=pl.Date)
    acct = cash["acct"].to_numpy()[pair]
    sec = cash["sec"].to_numpy()[pair]
    rows = pl.DataFrame(
        {
            "business_date": pl.Series([u.business_date.isoformat()] * len(pair)),
            "clearing_member_id": member,
            "account_id": ids.gather(acct),
            "cusip": u.securities["cusip"].gather(sec),
            "settlement_date": settle.gather(offset),
            "par_amount": piece,
            "_acct": acct,
            "_sec": sec,
        }
    )
    # A piece that nets to zero is no unsettled trade at all: drop it, the sum is unchanged.
    return (
        rows.filter(pl.col("par_amount") != 0)
        .sort("_acct", "_sec", "settlement_date")
        .drop("_acct", "_sec")
    )


def _cme_reports(
    u: Universe, futs: pl.DataFrame, ids: pl.Series, first_rpt: int, rng: np.random.Generator
) -> pl.DataFrame:
    """One PosRpt per (account, contract): FIN long/short around the net, SOD, variation."""
    net = futs["qty"].to_numpy()
    con = futs["con"].to_numpy()
    m = len(net)
    # Some accounts traded both ways today, so the gross FIN legs exceed the net; a flat net
    # position is still reported when it has gross legs.
    extra = np.where(rng.random(m) < 0.2, 1 + rng.poisson(0.1 * np.abs(net)), 0)
    extra = np.where(net == 0, np.maximum(extra, 1), extra)
    fin_long = np.maximum(net, 0) + extra
    fin_short = np.maximum(-net, 0) + extra
    traded = rng.random(m) < 0.3
    sod = np.where(traded, net - np.round(net * rng.uniform(-0.5, 0.5, m)).astype(np.int64), net)
    c = u.contracts
    settle = c["settlement_price"].to_numpy()[con]
    prior = c["prior_settlement"].to_numpy()[con]
    fmtm = sod * (settle - prior) * c["point_value"].to_numpy()[con]
    frame = pl.DataFrame(
        {
            "rpt_id": np.arange(first_rpt, first_rpt + m, dtype=np.int64),
            "account_id": ids.gather(futs["acct"]),
            "contract_id": c["contract_id"].gather(con),
            "symbol": c["product_code"].gather(con),
            "mmy": c["maturity_month"].gather(con),
            "exchange": c["exchange"].gather(con),
            "set_px": settle,
            "pri_set_px": prior,
            "sod_long": np.maximum(sod, 0),
            "sod_short": np.maximum(-sod, 0),
            "fin_long": fin_long,
            "fin_short": fin_short,
            "fmtm": fmtm,
            "net": net,
            "dv01": net * c["dv01_per_contract"].to_numpy()[con],
        }
    )
    return frame.with_columns(
        rpt_id="R" + pl.col("rpt_id").cast(pl.Utf8).str.zfill(9),
        biz_dt=pl.lit(u.business_date.isoformat()),
        clearing_firm_id=pl.lit(_CME_CLEARING_FIRM),
        set_px=fixed("set_px", 6),
        pri_set_px=fixed("pri_set_px", 6),
        fmtm=fixed("fmtm", 2),
        **{k: pl.col(k).cast(pl.Utf8) for k in ("sod_long", "sod_short", "fin_long", "fin_short")},
    )


def _balances(
    u: Universe,
    cash: pl.DataFrame,
    futs: pl.DataFrame,
    ids: pl.Series,
    attrs: dict[str, npt.NDArray[np.generic]],
    balance_only: npt.NDArray[np.bool_],
    sec_dv01: FloatArray,
    fut_dv01: FloatArray,
    rng: np.random.Generator,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Balances sized on a rough requirement so a realistic minority of customers is called."""
    n = len(ids)
    cash_dv01 = cash["par"].to_numpy() / 100.0 * sec_dv01[cash["sec"].to_numpy()]
    cash_acct = cash["acct"].to_numpy()
    cash_net = np.bincount(cash_acct, weights=cash_dv01, minlength=n)
    cash_gross = np.bincount(cash_acct, weights=np.abs(cash_dv01), minlength=n)
    product = u.contracts["product_code"].to_numpy()[futs["con"].to_numpy()]
    by_product = (
        pl.DataFrame(
            {
                "acct": futs["acct"],
                "product": product,
                "dv01": futs["qty"].to_numpy() * fut_dv01[futs["con"].to_numpy()],
            }
        )
        .group_by("acct", "product")
        .agg(pl.col("dv01").sum().abs())
    )
    fut_net = np.bincount(
        by_product["acct"].to_numpy(), weights=by_product["dv01"].to_numpy(), minlength=n
    )
    has_cash = np.bincount(cash_acct, minlength=n) > 0
    has_fut = np.bincount(futs["acct"].to_numpy(), minlength=n) > 0
    has_positions = has_cash | has_fut
    est_ficc = _EST_BP_NET * np.abs(cash_net) + _EST_BP_GROSS * cash_gross
    hrp = attrs["hrp"].astype(bool)
    est = est_ficc + _EST_BP_NET * fut_net * np.where(hrp, 1.1, 1.0)

    # Most customers hold ample margin; about one in ten is short of it tonight.
    klass = attrs["class"]
    draw = rng.random(n)
    factor = np.where(
        draw < 0.09,
        rng.uniform(0.3, 0.95, n),
        np.where(draw < 0.14, rng.uniform(0.95, 1.25, n), 1.25 + rng.lognormal(0.0, 0.6, n)),
    )
    factor = np.where(klass == "HOUSE", 1.0 + rng.lognormal(0.0, 0.5, n), factor)
    idle = rng.lognormal(np.log(50_000.0), 1.5, n) * np.where(rng.random(n) < 0.3, -1.0, 1.0)
    equity = np.where(has_positions, est * factor, idle)

    pledged = rng.random(n) < 0.4
    haircut = np.where(pledged, rng.choice(np.array([2.0, 5.0, 10.0, 15.0, 25.0]), n), 0.0)
    share = rng.uniform(0.2, 1.4, n)
    collateral = np.where(pledged, np.abs(equity) * share / (1.0 - haircut / 100.0), 0.0)
    collateral = np.round(collateral, 2)
    cash_balance = np.round(equity - collateral * (1.0 - haircut / 100.0), 2)
    on_deposit = np.where(rng.random(n) < 0.8, est_ficc * rng.uniform(0.6, 1.2, n), 0.0)
    debit = cash_balance < 0
    unsecured = debit & (rng.random(n) < 0.03)
    doubtful = debit & (rng.random(n) < 0.01)

    keep = has_positions | balance_only
    frame = (
        pl.DataFrame(
            {
                "account_id": ids,
                "cash_balance": cash_balance,
                "securities_collateral_value": collateral,
                "collateral_haircut_pct": haircut,
                "ficc_margin_on_deposit": on_deposit,
                "debit_unsecured": unsecured,
                "debit_doubtful": doubtful,
            }
        )
        .filter(pl.Series(keep))
        .with_columns(
            cash_balance=fixed("cash_balance", 2),
            securities_collateral_value=fixed("securities_collateral_value", 2),
            collateral_haircut_pct=fixed("collateral_haircut_pct", 2),
            ficc_margin_on_deposit=fixed("ficc_margin_on_deposit", 2),
            debit_unsecured=boolean("debit_unsecured"),
            debit_doubtful=boolean("debit_doubtful"),
        )
    )

    # Firm totals for sizing the reserve bank deposits (SPEC §6 items 1 and 10, 4d funds).
    xm = attrs["xm_active"].astype(bool)
    eq = cash_balance + collateral * (1.0 - haircut / 100.0)
    totals: dict[str, float] = {}
    for book in ("CUSTOMER", "PAB"):
        in_book = keep & (klass == book) & ~xm
        totals[f"{book}_credits"] = float(np.maximum(cash_balance, 0)[in_book].sum())
        good = in_book & ~unsecured & ~doubtful
        # Item 15 (margin required and on deposit at FICC) is a debit too; estimated roughly.
        item_15 = np.minimum(est_ficc, on_deposit)[in_book].sum()
        totals[f"{book}_debits"] = float(np.maximum(-cash_balance, 0)[good].sum() + item_15)
    totals["XM_seg"] = float(np.maximum(eq, 0)[keep & xm & (klass == "CUSTOMER")].sum())
    return frame, totals
