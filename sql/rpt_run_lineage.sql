-- SPEC §10.8: which run published each window date, from its manifest.json.
with

manifests as (
    select * from stg_manifests
),

calendar as (
    select * from int_calendar
),

final as (
    select
        manifests.business_date,
        manifests.run_id,
        manifests.software_version,
        manifests.params_version,
        manifests.params_sha256,
        manifests.finished_at,
        manifests.manifest_sha256
    from manifests
    inner join calendar on manifests.business_date = calendar.business_date
    where calendar.in_window and calendar.is_published
)

select * from final
order by business_date
