-- SPEC §10.5: cross-margining savings per published window date, exact decimal sums. The
-- percentage is one float64 division of two integers of cents, exact in double below 2^53
-- (savings under $900bn), so it is the correctly rounded quotient.
with

margin as (
    select * from stg_margin_by_account
),

calendar as (
    select * from int_calendar
),

window_dates as (
    select business_date from calendar where in_window and is_published
),

per_date as (
    select
        business_date,
        count(*) as accounts,
        count(*) filter (where xm_active) as xm_active_accounts,
        coalesce(sum(f_sa + c_sa) filter (where xm_active), 0) as standalone,
        coalesce(sum(ficc_xm_im + cme_xm_im) filter (where xm_active), 0) as applied,
        coalesce(sum(maintenance_requirement), 0) as maintenance_requirement,
        coalesce(sum(initial_requirement), 0) as initial_requirement,
        coalesce(sum(call_amount), 0) as call_amount
    from margin
    group by business_date
),

final as (
    select
        window_dates.business_date,
        coalesce(per_date.accounts, 0) as accounts,
        coalesce(per_date.xm_active_accounts, 0) as xm_active_accounts,
        cast(coalesce(per_date.standalone, 0) as decimal(20, 2)) as standalone,
        cast(coalesce(per_date.applied, 0) as decimal(20, 2)) as applied,
        cast(coalesce(per_date.standalone - per_date.applied, 0) as decimal(20, 2)) as savings,
        case
            when coalesce(per_date.standalone, 0) = 0 then null
            else
                cast(cast((per_date.standalone - per_date.applied) * 10000 as hugeint) as double)
                / cast(cast(per_date.standalone * 100 as hugeint) as double)
        end as savings_pct,
        cast(coalesce(per_date.maintenance_requirement, 0) as decimal(20, 2))
            as maintenance_requirement,
        cast(coalesce(per_date.initial_requirement, 0) as decimal(20, 2)) as initial_requirement,
        cast(coalesce(per_date.call_amount, 0) as decimal(20, 2)) as call_amount
    from window_dates
    left join per_date on window_dates.business_date = per_date.business_date
)

select * from final
order by business_date
