-- SPEC §10.4: calls per published window date, with their total and counts by age bucket.
with

calls as (
    select * from rpt_call_history
),

calendar as (
    select * from int_calendar
),

window_dates as (
    select business_date from calendar where in_window and is_published
),

final as (
    select
        window_dates.business_date,
        count(calls.call_id) as calls,
        cast(coalesce(sum(calls.call_amount), 0) as decimal(20, 2)) as call_amount,
        count(calls.call_id) filter (where calls.age_bucket = '1') as calls_1,
        count(calls.call_id) filter (where calls.age_bucket = '2') as calls_2,
        count(calls.call_id) filter (where calls.age_bucket = '3-5') as calls_3_5,
        count(calls.call_id) filter (where calls.age_bucket = '6+') as calls_6_plus
    from window_dates
    left join calls on window_dates.business_date = calls.business_date
    group by window_dates.business_date
)

select * from final
order by business_date
