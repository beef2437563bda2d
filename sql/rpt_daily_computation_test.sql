-- SPEC §10.3, SEC release 34-102022: as of D2, must the firm compute its reserve daily? The
-- average of total credits over the counted month-ends, half-even to the cent, is worked in
-- integer cents: DuckDB's avg() and decimal division would go through DOUBLE.
with

months as (
    select * from rpt_daily_computation_months
),

counted as (
    select
        count(*) as months_used,
        min(month) as first_month,
        max(month) as last_month,
        cast(coalesce(sum(total_credits), 0) * 100 as hugeint) as total_cents
    from months
),

divided as (
    select
        months_used,
        first_month,
        last_month,
        total_cents,
        abs(total_cents) // nullif(months_used, 0) as quotient,
        abs(total_cents) % nullif(months_used, 0) as remainder
    from counted
),

rounded as (
    select
        months_used,
        first_month,
        last_month,
        -- Half-even: up when the remainder is over half, or exactly half and the quotient odd.
        sign(total_cents) * (
            quotient
            + case
                when 2 * remainder > months_used then 1
                when 2 * remainder = months_used and quotient % 2 = 1 then 1
                else 0
            end
        ) as average_cents
    from divided
),

final as (
    select
        cast($end as date) as as_of,
        cast(months_used as bigint) as months_used,
        first_month,
        last_month,
        cast(cast(average_cents as decimal(38, 0)) * 0.01 as decimal(20, 2))
            as average_total_credits,
        cast($threshold as decimal(20, 2)) as threshold,
        case
            when months_used < 12 then 'INSUFFICIENT_HISTORY'
            when average_total_credits >= threshold then 'DAILY_REQUIRED'
            else 'DAILY_NOT_REQUIRED'
        end as status
    from rounded
)

select * from final
