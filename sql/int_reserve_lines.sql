-- One row per (published date read, book) with the Exhibit A lines §10 uses (SPEC §7.3).
with

lines as (
    select * from stg_reserve_computation
),

final as (
    select
        business_date,
        book,
        max(amount) filter (where line = 'total_credits') as total_credits,
        max(amount) filter (where line = 'total_debits') as total_debits,
        max(amount) filter (where line = 'debit_reduction') as debit_reduction,
        max(amount) filter (where line = 'reserve_requirement') as reserve_requirement,
        max(amount) filter (where line = 'on_deposit') as on_deposit,
        max(amount) filter (where line = 'deposit_required') as deposit_required,
        max(amount) filter (where line = 'excess_on_deposit') as excess_on_deposit
    from lines
    group by business_date, book
)

select * from final
