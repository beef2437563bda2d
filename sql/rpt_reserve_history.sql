-- SPEC §10.1: the Exhibit A totals of each published window date, per book.
with

reserve as (
    select * from int_reserve_lines
),

calendar as (
    select * from int_calendar
),

final as (
    select
        reserve.business_date,
        reserve.book,
        reserve.total_credits,
        reserve.total_debits,
        reserve.debit_reduction,
        reserve.reserve_requirement,
        reserve.on_deposit,
        reserve.deposit_required,
        reserve.excess_on_deposit
    from reserve
    inner join calendar on reserve.business_date = calendar.business_date
    where calendar.in_window and calendar.is_published
)

select * from final
order by business_date, book
