-- SPEC §10.6: the 4d segregation totals of each published window date.
with

segregation as (
    select * from stg_xm_segregation_summary
),

calendar as (
    select * from int_calendar
),

final as (
    select
        segregation.business_date,
        segregation.seg_required,
        segregation.funds_held,
        segregation.residual_interest,
        segregation.is_shortfall
    from segregation
    inner join calendar on segregation.business_date = calendar.business_date
    where calendar.in_window and calendar.is_published
)

select * from final
order by business_date
