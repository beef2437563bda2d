-- Published issued calls (SPEC §7.2) of the window and its chain look-back, typed.
with

source as (
    select * from read_parquet($margin_calls_files)
),

final as (
    select
        cast(business_date as date) as business_date,
        cast(account_id as varchar) as account_id,
        cast(call_id as varchar) as call_id,
        -- Whole dollars as published (int64), exactly as money: decimal(20,2) (SPEC §10).
        cast(call_amount as decimal(20, 2)) as call_amount
    from source
)

select * from final
