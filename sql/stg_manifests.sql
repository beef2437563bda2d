-- The manifest.json of every published date history reads (SPEC §7.5): its fields and the
-- sha256 of its exact bytes.
with

source as (
    select * from read_blob($manifest_files)
),

parsed as (
    select
        sha256(content) as manifest_sha256,
        cast(decode(content) as json) as doc
    from source
),

final as (
    select
        cast(json_extract_string(doc, '$.business_date') as date) as business_date,
        json_extract_string(doc, '$.run_id') as run_id,
        json_extract_string(doc, '$.software_version') as software_version,
        json_extract_string(doc, '$.params.version') as params_version,
        json_extract_string(doc, '$.params.sha256') as params_sha256,
        cast(json_extract_string(doc, '$.finished_at') as timestamptz) as finished_at,
        manifest_sha256
    from parsed
)

select * from final
