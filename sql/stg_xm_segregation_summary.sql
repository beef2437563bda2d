-- Published 4d segregation totals (SPEC §7.4) of the window dates, typed.
with

source as (
    select * from read_parquet($xm_segregation_summary_files)
),

final as (
    select
        cast(business_date as date) as business_date,
        cast(seg_required as decimal(20, 2)) as seg_required,
        cast(funds_held as decimal(20, 2)) as funds_held,
        cast(residual_interest as decimal(20, 2)) as residual_interest,
        cast(is_shortfall as boolean) as is_shortfall
    from source
)

select * from final
