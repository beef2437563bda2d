-- Published per-account requirements (SPEC §7.1) of the window dates: the columns §10.5 sums.
with

source as (
    select * from read_parquet($margin_by_account_files)
),

final as (
    select
        cast(business_date as date) as business_date,
        cast(xm_active as boolean) as xm_active,
        cast(f_sa as decimal(20, 2)) as f_sa,
        cast(c_sa as decimal(20, 2)) as c_sa,
        cast(ficc_xm_im as decimal(20, 2)) as ficc_xm_im,
        cast(cme_xm_im as decimal(20, 2)) as cme_xm_im,
        cast(maintenance_requirement as decimal(20, 2)) as maintenance_requirement,
        cast(initial_requirement as decimal(20, 2)) as initial_requirement,
        cast(call_amount as decimal(20, 2)) as call_amount
    from source
)

select * from final
