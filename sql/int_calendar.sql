-- The SIFMA business days history spans (SPEC §1, §10), numbered in order so a chain counts
-- them, each with the next business day and whether it is published and in [D1, D2].
with

business_days as (
    select unnest(cast($business_days as date[])) as business_date
),

published as (
    select unnest(cast($published_dates as date[])) as business_date
),

numbered as (
    select
        business_date,
        row_number() over (order by business_date) as day_number,
        lead(business_date) over (order by business_date) as next_business_date
    from business_days
),

final as (
    select
        numbered.business_date,
        numbered.day_number,
        numbered.next_business_date,
        published.business_date is not null as is_published,
        numbered.business_date between cast($start as date) and cast($end as date) as in_window
    from numbered
    left join published on numbered.business_date = published.business_date
)

select * from final
