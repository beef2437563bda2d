-- SPEC §10.9: what to look at across the window, one row each.
with

calendar as (
    select * from int_calendar
),

published as (
    select unnest(cast($published_dates as date[])) as business_date
),

deposits as (
    select * from rpt_deposit_compliance
),

segregation as (
    select * from rpt_segregation_history
),

calls as (
    select * from rpt_call_history
),

documents as (
    select * from rpt_document_exceptions
),

daily_test as (
    select * from rpt_daily_computation_test
),

missing_dates as (
    select
        'MISSING_DATE' as kind,
        business_date,
        null as book,
        null as account_id,
        'SIFMA business date not published (no folder for it with _SUCCESS): in no table,'
        || ' and it ends every chain' as detail
    from calendar
    where in_window and not is_published
),

non_business_dates as (
    select
        'NON_BUSINESS_DATE' as kind,
        published.business_date,
        null as book,
        null as account_id,
        'published folder of a date the SIFMA market was closed (a forced run): in no table,'
        || ' never counted in a chain nor as a next business date' as detail
    from published
    left join calendar on published.business_date = calendar.business_date
    where
        published.business_date between cast($start as date) and cast($end as date)
        and calendar.business_date is null
),

deposit_shortfalls as (
    select
        'DEPOSIT_SHORTFALL' as kind,
        business_date,
        book,
        null as account_id,
        'reserve requirement ' || cast(reserve_requirement as varchar)
        || ' computed for ' || cast(business_date as varchar)
        || ' exceeds the ' || cast(on_deposit_next as varchar)
        || ' on deposit at the close of ' || cast(next_business_date as varchar)
        || ' by ' || cast(shortfall as varchar) as detail
    from deposits
    where status = 'SHORTFALL'
),

seg_shortfalls as (
    select
        'SEG_SHORTFALL' as kind,
        business_date,
        null as book,
        null as account_id,
        '4d residual interest ' || cast(residual_interest as varchar)
        || ': funds held ' || cast(funds_held as varchar)
        || ' < segregation required ' || cast(seg_required as varchar) as detail
    from segregation
    where is_shortfall
),

aged_calls as (
    select
        'CALL_AGED' as kind,
        business_date,
        null as book,
        account_id,
        'called ' || cast(consecutive_days as varchar)
        || ' business days in a row since ' || cast(first_call_date as varchar)
        || ' (call ' || call_id || ' of ' || cast(call_amount as varchar) || ')' as detail
    from calls
    where consecutive_days >= 3
),

outstanding_documents as (
    select
        'DOCUMENTS_OUTSTANDING' as kind,
        business_date,
        null as book,
        account_id,
        'opted in to cross-margining without documents ' || cast(consecutive_days as varchar)
        || ' business days in a row since ' || cast(first_date as varchar) as detail
    from documents
    where consecutive_days >= 5
),

daily_required as (
    select
        'DAILY_COMPUTATION_REQUIRED' as kind,
        as_of as business_date,
        null as book,
        null as account_id,
        'average total credits ' || cast(average_total_credits as varchar)
        || ' over the month-ends ' || first_month || ' to ' || last_month
        || ' reach the threshold ' || cast(threshold as varchar)
        || ' while the parameters in force compute weekly' as detail
    from daily_test
    where status = 'DAILY_REQUIRED' and cast($computation_frequency as varchar) = 'WEEKLY'
),

unioned as (
    select * from missing_dates
    union all
    select * from non_business_dates
    union all
    select * from deposit_shortfalls
    union all
    select * from seg_shortfalls
    union all
    select * from aged_calls
    union all
    select * from outstanding_documents
    union all
    select * from daily_required
),

final as (
    select
        cast(kind as varchar) as kind,
        cast(business_date as date) as business_date,
        cast(book as varchar) as book,
        cast(account_id as varchar) as account_id,
        cast(detail as varchar) as detail
    from unioned
)

select * from final
order by kind, business_date, book nulls first, account_id nulls first, detail
