"""Rule 15c3-3 Exhibit A for the CUSTOMER and PAB books (SPEC §6), unrounded float64.

`ITEMS` is the form: one row per numbered item with its side, its source (computed by the batch
from the accounts, or supplied per book in reserve_items) and its wording. The totals, the
published lines and their order, the items reserve_items may carry (its contract reads
`SUPPLIED_ITEMS`), and the generator's reserve_items all derive from it, so a new item is one row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import polars as pl

from pipeline.config import Params
from pipeline.errors import InternalError

BOOKS = ("CUSTOMER", "PAB")

Side = Literal["credit", "debit"]

_CASH = pl.col("cash_balance")
_SECURED = ~(pl.col("debit_unsecured") | pl.col("debit_doubtful"))


@dataclass(frozen=True, eq=False)
class Item:
    """One numbered item of the formula; `per_account` is its amount per account if computed."""

    number: int
    side: Side
    description: str
    per_account: pl.Expr | None = None

    @property
    def line(self) -> str:
        return f"item_{self.number}"

    @property
    def supplied(self) -> bool:
        """Supplied per book in reserve_items (SPEC §2.8) rather than computed from accounts."""
        return self.per_account is None


# Wording follows the golden outputs (SPEC §7.3); computed items are sums over the book's
# accounts that stay in Exhibit A (CUSTOMER or PAB, not XM-active) of their unrounded amounts.
ITEMS: tuple[Item, ...] = (
    Item(
        1,
        "credit",
        "Free credit balances and other credit balances in customers' accounts",
        # A credit balance is a credit whatever the debit flags say.
        per_account=_CASH.clip(lower_bound=0.0),
    ),
    Item(
        2,
        "credit",
        "Monies borrowed collateralized by securities carried for the accounts of customers",
    ),
    Item(3, "credit", "Monies payable against customers' securities loaned"),
    Item(4, "credit", "Customers' securities failed to receive"),
    Item(
        5, "credit", "Credit balances in firm accounts attributable to principal sales to customers"
    ),
    Item(
        6,
        "credit",
        "Market value of stock dividends, splits and similar distributions receivable over 30 days",
    ),
    Item(7, "credit", "Market value of short security count differences over 30 calendar days old"),
    Item(
        8,
        "credit",
        "Market value of short securities and credits in suspense accounts over 30 calendar days",
    ),
    Item(9, "credit", "Market value of securities in transfer over 40 calendar days not confirmed"),
    Item(
        10,
        "debit",
        "Debit balances in customers' cash and margin accounts, excluding unsecured and doubtful",
        per_account=pl.when(_SECURED).then((-_CASH).clip(lower_bound=0.0)).otherwise(0.0),
    ),
    Item(
        11,
        "debit",
        "Securities borrowed to effectuate short sales and deliveries on customers' fails to"
        " deliver",
    ),
    Item(12, "debit", "Failed to deliver of customers' securities not older than 30 calendar days"),
    Item(13, "debit", "Margin required and on deposit with the OCC for customer option contracts"),
    Item(
        14,
        "debit",
        "Margin on security futures products required and on deposit with a clearing agency or DCO",
    ),
    Item(
        15,
        "debit",
        "Margin required and on deposit at a Treasury clearing agency for customer U.S. Treasury"
        " positions",
        per_account=pl.min_horizontal("ficc_regular_im", "ficc_margin_on_deposit"),
    ),
)
SUPPLIED_ITEMS = tuple(item.number for item in ITEMS if item.supplied)


class Line(NamedTuple):
    """One line of the published computation: its key, side and the wording of the form."""

    line: str
    side: str
    description: str


def _numbers(items: Sequence[Item]) -> str:
    """'1-9' for a run of consecutive numbers, else '1, 3, 5'."""
    numbers = [item.number for item in items]
    if numbers and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(str(n) for n in numbers)


def lines_of(items: Sequence[Item]) -> tuple[Line, ...]:
    """The published lines of a form in order (SPEC §7.3): its items, then the computation."""
    credits = [item for item in items if item.side == "credit"]
    debits = [item for item in items if item.side == "debit"]
    return (
        *(Line(item.line, item.side, item.description) for item in items),
        Line("total_credits", "credit", f"Total credits (items {_numbers(credits)})"),
        Line("total_debits", "debit", f"Total debits (items {_numbers(debits)})"),
        Line("debit_reduction", "debit", "Reduction of debits (method/frequency per parameters)"),
        Line(
            "reserve_requirement",
            "total",
            "Reserve requirement: max(0, credits - (debits - reduction))",
        ),
        Line("on_deposit", "total", "Amount on deposit in the Special Reserve Bank Account"),
        Line("deposit_required", "total", "Deposit required: max(0, requirement - on deposit)"),
        Line("excess_on_deposit", "total", "Excess on deposit: max(0, on deposit - requirement)"),
    )


# Wording and order of the published lines (SPEC §7.3).
LINES: tuple[Line, ...] = lines_of(ITEMS)


def _book_accounts(margin_by_account: pl.DataFrame, balances: pl.DataFrame) -> pl.DataFrame:
    """Accounts that stay in Exhibit A (CUSTOMER/PAB, not XM-active) with their balances."""
    accounts = margin_by_account.select(
        pl.col("account_id").cast(pl.Utf8),
        pl.col("account_class").cast(pl.Utf8),
        pl.col("xm_active").cast(pl.Boolean),
        pl.col("ficc_regular_im").cast(pl.Float64),
    ).filter(pl.col("account_class").is_in(BOOKS) & ~pl.col("xm_active"))
    bal = balances.select(
        pl.col("account_id").cast(pl.Utf8),
        pl.col("cash_balance").cast(pl.Float64),
        pl.col("ficc_margin_on_deposit").cast(pl.Float64),
        pl.col("debit_unsecured").cast(pl.Boolean),
        pl.col("debit_doubtful").cast(pl.Boolean),
    )
    # An account with positions always has a balance row (SPEC §3); a missing row counts as zero.
    return accounts.join(bal, on="account_id", how="left").with_columns(
        pl.col("cash_balance").fill_null(0.0),
        pl.col("ficc_margin_on_deposit").fill_null(0.0),
        pl.col("debit_unsecured").fill_null(False),
        pl.col("debit_doubtful").fill_null(False),
    )


def _computed_items(accounts: pl.DataFrame, form: Sequence[Item]) -> pl.DataFrame:
    """The computed items per book, sums of unrounded per-account values (SPEC §6)."""
    sums = accounts.group_by("account_class").agg(
        item.per_account.sum().alias(item.line) for item in form if item.per_account is not None
    )
    books = pl.DataFrame({"book": list(BOOKS)})
    return books.join(sums, left_on="book", right_on="account_class", how="left").fill_null(0.0)


def _supplied_items(reserve_items: pl.DataFrame, form: Sequence[Item]) -> pl.DataFrame:
    """The supplied items per book from reserve_items; absent rows are zero (SPEC §2.8)."""
    supplied = [item.number for item in form if item.supplied]
    computed = [item for item in form if not item.supplied]
    items = reserve_items.select(
        pl.col("book").cast(pl.Utf8),
        pl.col("item").cast(pl.Int64),
        pl.col("amount").cast(pl.Float64),
    )
    bad = items.filter(~pl.col("item").is_in(supplied) | ~pl.col("book").is_in(BOOKS))
    if bad.height:
        found = bad.select("book", "item").unique().sort("book", "item").rows()
        raise InternalError(
            f"reserve_items: rows {found} have a book/item outside the allowed set; expected book"
            f" in {list(BOOKS)} and item in {supplied} (items {_numbers(computed)} are computed)"
        )
    dupes = items.group_by("book", "item").len().filter(pl.col("len") > 1)
    if dupes.height:
        raise InternalError(
            f"reserve_items: (book, item) {dupes.select('book', 'item').rows()} appear more than"
            " once; expected at most one row each"
        )
    grid = pl.DataFrame({"book": list(BOOKS)}).join(
        pl.DataFrame({"item": supplied}, schema={"item": pl.Int64}), how="cross"
    )
    filled = grid.join(items, on=["book", "item"], how="left").with_columns(
        pl.col("amount").fill_null(0.0),
        ("item_" + pl.col("item").cast(pl.Utf8)).alias("line"),
    )
    return filled.pivot(on="line", index="book", values="amount", sort_columns=False)


def _on_deposit(reserve_bank: pl.DataFrame) -> pl.DataFrame:
    """Special Reserve Bank Account balance per book (SPEC §2.9); absent means zero."""
    bank = reserve_bank.select(
        pl.col("book").cast(pl.Utf8), pl.col("on_deposit").cast(pl.Float64)
    ).filter(pl.col("book").is_in(BOOKS))
    books = pl.DataFrame({"book": list(BOOKS)})
    return books.join(bank, on="book", how="left").fill_null(0.0)


def _reduction_pct(params: Params) -> tuple[float, str]:
    """CUSTOMER debit-reduction percentage and the line it applies to (SPEC §6)."""
    rp = params.reserve
    if rp.net_capital_method == "BASIC":
        return rp.basic_reduction_pct, "item_10"
    try:
        return rp.alternative_reduction_pct[rp.computation_frequency], "total_debits"
    except KeyError as exc:
        raise InternalError(
            f"parameters {params.source}: reserve.alternative_reduction_pct has no entry for"
            f" computation_frequency {rp.computation_frequency!r}"
        ) from exc


def compute_reserve(
    margin_by_account: pl.DataFrame,
    balances: pl.DataFrame,
    reserve_items: pl.DataFrame,
    reserve_bank: pl.DataFrame,
    params: Params,
    business_date: dt.date,
    form: Sequence[Item] = ITEMS,
) -> pl.DataFrame:
    """Exhibit A lines for CUSTOMER then PAB, amounts unrounded float64 (SPEC §6, §7.3).

    Total credits and debits add up every item of `form` on their side, in form order.
    """
    accounts = _book_accounts(margin_by_account, balances)
    wide = (
        _computed_items(accounts, form)
        .join(_supplied_items(reserve_items, form), on="book", how="left")
        .join(_on_deposit(reserve_bank), on="book", how="left")
    )
    credit_items = [item.line for item in form if item.side == "credit"]
    debit_items = [item.line for item in form if item.side == "debit"]
    customer_pct, customer_base = _reduction_pct(params)
    wide = wide.with_columns(
        pl.sum_horizontal(credit_items).alias("total_credits"),
        pl.sum_horizontal(debit_items).alias("total_debits"),
    )
    wide = wide.with_columns(
        pl.when(pl.col("book") == "CUSTOMER")
        .then(pl.col(customer_base) * (customer_pct / 100.0))
        .otherwise(pl.col("total_debits") * (params.reserve.pab_reduction_pct / 100.0))
        .alias("debit_reduction")
    )
    wide = wide.with_columns(
        (pl.col("total_credits") - (pl.col("total_debits") - pl.col("debit_reduction")))
        .clip(lower_bound=0.0)
        .alias("reserve_requirement")
    )
    wide = wide.with_columns(
        (pl.col("reserve_requirement") - pl.col("on_deposit"))
        .clip(lower_bound=0.0)
        .alias("deposit_required"),
        (pl.col("on_deposit") - pl.col("reserve_requirement"))
        .clip(lower_bound=0.0)
        .alias("excess_on_deposit"),
    )
    lines = lines_of(form)
    line_names = [line.line for line in lines]
    long = wide.select("book", *line_names).unpivot(
        index="book", on=line_names, variable_name="line", value_name="amount"
    )
    layout = pl.DataFrame(
        {
            "line": line_names,
            "side": [line.side for line in lines],
            "description": [line.description for line in lines],
            "line_order": list(range(len(lines))),
        }
    )
    book_order = pl.DataFrame({"book": list(BOOKS), "book_order": list(range(len(BOOKS)))})
    return (
        long.join(layout, on="line", how="left")
        .join(book_order, on="book", how="left")
        .sort("book_order", "line_order")
        .select(
            pl.lit(business_date, dtype=pl.Date).alias("business_date"),
            "book",
            "line",
            "side",
            "description",
            pl.col("amount").cast(pl.Float64),
        )
    )
