-- Published exceptions (SPEC §7.6) of the window and its chain look-back, typed.
with

source as (
    select * from read_parquet($exceptions_files)
),

final as (
    select
        cast(business_date as date) as business_date,
        cast(kind as varchar) as kind,
        cast(account_id as varchar) as account_id
    from source
)

select * from final
