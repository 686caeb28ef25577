-- pg_migrate: the schema as the catalogs describe it, as one JSON document (read-only; takes
-- ACCESS SHARE on catalog tables only). Named argument: schema.
-- Used by verification (compared with the change set's expected_schema.yml) and by
-- tools/expected_schema.py (which writes that file).
WITH rel AS (
    SELECT c.oid, c.relname
      FROM pg_class c
     WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'p')
)
SELECT json_build_object(
    'extensions', coalesce((
        SELECT json_agg(json_build_object('name', e.extname) ORDER BY e.extname)
          FROM pg_extension e WHERE e.extname <> 'plpgsql'), '[]'::json),
    'tables', coalesce((
        SELECT json_agg(json_build_object('name', r.relname, 'comment', obj_description(r.oid, 'pg_class'))
                        ORDER BY r.relname)
          FROM rel r), '[]'::json),
    'columns', coalesce((
        SELECT json_agg(json_build_object(
                   'table', r.relname, 'name', a.attname,
                   'type', format_type(a.atttypid, a.atttypmod),
                   'nullable', NOT a.attnotnull,
                   'default', pg_get_expr(d.adbin, d.adrelid),
                   'identity', nullif(a.attidentity, ''),
                   'comment', col_description(r.oid, a.attnum))
                   ORDER BY r.relname, a.attnum)
          FROM rel r
          JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
          LEFT JOIN pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum), '[]'::json),
    'constraints', coalesce((
        SELECT json_agg(json_build_object(
                   'table', r.relname, 'name', con.conname, 'kind', con.contype,
                   'definition', pg_get_constraintdef(con.oid), 'validated', con.convalidated)
                   ORDER BY r.relname, con.conname)
          FROM rel r JOIN pg_constraint con ON con.conrelid = r.oid
         WHERE con.contype IN ('p', 'f', 'u', 'c', 'x')), '[]'::json),
    'indexes', coalesce((
        SELECT json_agg(json_build_object(
                   'table', r.relname, 'name', ic.relname,
                   'definition', pg_get_indexdef(i.indexrelid), 'valid', i.indisvalid)
                   ORDER BY r.relname, ic.relname)
          FROM rel r
          JOIN pg_index i ON i.indrelid = r.oid
          JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                                                            AND con.conrelid = r.oid)), '[]'::json),
    'triggers', coalesce((
        SELECT json_agg(json_build_object(
                   'table', r.relname, 'name', t.tgname, 'definition', pg_get_triggerdef(t.oid))
                   ORDER BY r.relname, t.tgname)
          FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid
         WHERE NOT t.tgisinternal), '[]'::json)
) AS catalog
