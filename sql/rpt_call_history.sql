-- SPEC §10.4: every call issued on a window date, with the account's chain of called days.
with

calls as (
    select * from stg_margin_calls
),

chains as (
    select * from int_chains where chain = 'call'
),

calendar as (
    select * from int_calendar
),

final as (
    select
        calls.business_date,
        calls.account_id,
        calls.call_id,
        calls.call_amount,
        chains.consecutive_days,
        chains.first_date as first_call_date,
        case
            when chains.consecutive_days = 1 then '1'
            when chains.consecutive_days = 2 then '2'
            when chains.consecutive_days <= 5 then '3-5'
            else '6+'
        end as age_bucket
    from calls
    inner join calendar on calls.business_date = calendar.business_date
    inner join chains
        on calls.account_id = chains.account_id
        and calls.business_date = chains.business_date
    where calendar.in_window
)

select * from final
order by business_date, account_id
