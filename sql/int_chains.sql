-- Chains (SPEC §10): for each account and qualifying business date, the number of consecutive
-- SIFMA business days ending there on which it qualifies, and the first of them. Days are
-- numbered on the calendar, so a business day without the account (or not published at all)
-- breaks the chain; folders of non-business days never enter it.
with

calls as (
    select * from stg_margin_calls
),

exceptions as (
    select * from stg_exceptions
),

calendar as (
    select * from int_calendar
),

qualifying as (
    select distinct 'call' as chain, account_id, business_date from calls
    union all
    select distinct 'documents' as chain, account_id, business_date
    from exceptions
    where kind = 'XM_OPT_IN_WITHOUT_DOCUMENTS'
),

numbered as (
    select
        qualifying.chain,
        qualifying.account_id,
        qualifying.business_date,
        calendar.day_number,
        -- Constant along a run of consecutive day numbers: the run's key.
        calendar.day_number
        - row_number() over (
            partition by qualifying.chain, qualifying.account_id
            order by calendar.day_number
        ) as island
    from qualifying
    inner join calendar on qualifying.business_date = calendar.business_date
),

-- Where each run starts, as an aggregate joined back: a window without order over many small
-- partitions was twice as slow on a year of calls.
runs as (
    select
        chain,
        account_id,
        island,
        min(day_number) as first_day_number,
        min(business_date) as first_date
    from numbered
    group by chain, account_id, island
),

final as (
    select
        numbered.chain,
        numbered.account_id,
        numbered.business_date,
        numbered.day_number - runs.first_day_number + 1 as consecutive_days,
        runs.first_date
    from numbered
    inner join runs
        on numbered.chain = runs.chain
        and numbered.account_id = runs.account_id
        and numbered.island = runs.island
)

select * from final
