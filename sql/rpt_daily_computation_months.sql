-- SPEC §10.3: the 12 calendar months before D2's month whose month-end (last SIFMA business
-- day) is published, with that date's total credits per book and their sum.
with

month_ends as (
    select unnest(cast($month_ends as date[])) as month_end_date
),

reserve as (
    select * from int_reserve_lines
),

published as (
    select unnest(cast($published_dates as date[])) as business_date
),

published_month_ends as (
    select month_ends.month_end_date
    from month_ends
    inner join published on month_ends.month_end_date = published.business_date
),

final as (
    select
        strftime(published_month_ends.month_end_date, '%Y-%m') as month,
        published_month_ends.month_end_date,
        max(reserve.total_credits) filter (
            where reserve.book = 'CUSTOMER'
        ) as customer_total_credits,
        max(reserve.total_credits) filter (where reserve.book = 'PAB') as pab_total_credits,
        cast(
            coalesce(customer_total_credits, 0) + coalesce(pab_total_credits, 0)
            as decimal(20, 2)
        ) as total_credits
    from published_month_ends
    inner join reserve on published_month_ends.month_end_date = reserve.business_date
    group by published_month_ends.month_end_date
)

select * from final
order by month
