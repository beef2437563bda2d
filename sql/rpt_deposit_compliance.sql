-- SPEC §10.2: the requirement computed for D must be on deposit at the close of the next
-- SIFMA business day (deposited by 10:00 New York that day).
with

reserve as (
    select * from int_reserve_lines
),

calendar as (
    select * from int_calendar
),

window_dates as (
    select business_date, next_business_date
    from calendar
    where in_window and is_published
),

compared as (
    select
        window_dates.business_date,
        reserve.book,
        reserve.reserve_requirement,
        window_dates.next_business_date,
        next_day.on_deposit as on_deposit_next,
        -- greatest() skips nulls: an unpublished next date must give a null shortfall.
        case
            when next_day.on_deposit is not null
                then cast(
                    greatest(
                        cast(0 as decimal(20, 2)),
                        reserve.reserve_requirement - next_day.on_deposit
                    ) as decimal(20, 2)
                )
        end as shortfall
    from window_dates
    inner join reserve on window_dates.business_date = reserve.business_date
    left join reserve as next_day
        on window_dates.next_business_date = next_day.business_date
        and reserve.book = next_day.book
),

final as (
    select
        business_date,
        book,
        reserve_requirement,
        next_business_date,
        on_deposit_next,
        shortfall,
        case
            when on_deposit_next is null then 'NEXT_DATE_MISSING'
            when shortfall > 0 then 'SHORTFALL'
            else 'OK'
        end as status
    from compared
)

select * from final
order by business_date, book
