-- SPEC §10.7: every XM_OPT_IN_WITHOUT_DOCUMENTS exception of a window date, with the account's
-- chain of days with that exception.
with

exceptions as (
    select * from stg_exceptions where kind = 'XM_OPT_IN_WITHOUT_DOCUMENTS'
),

chains as (
    select * from int_chains where chain = 'documents'
),

calendar as (
    select * from int_calendar
),

final as (
    select
        exceptions.business_date,
        exceptions.account_id,
        chains.consecutive_days,
        chains.first_date
    from exceptions
    inner join calendar on exceptions.business_date = calendar.business_date
    inner join chains
        on exceptions.account_id = chains.account_id
        and exceptions.business_date = chains.business_date
    where calendar.in_window
)

select * from final
order by business_date, account_id
