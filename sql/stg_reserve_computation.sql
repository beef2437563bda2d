-- Published Exhibit A lines (SPEC §7.3) of the dates history reads, typed; money as published.
with

source as (
    select * from read_parquet($reserve_computation_files)
),

final as (
    select
        cast(business_date as date) as business_date,
        cast(book as varchar) as book,
        cast(line as varchar) as line,
        cast(amount as decimal(20, 2)) as amount
    from source
)

select * from final
