# pg_migrate: the engine's read-only catalog queries, as text the module and the controller both carry
# (module_utils travel with a module to the managed host; files of the role do not).

from __future__ import annotations

# Everything the preflight needs to know about the server, in one query. Named arguments: extensions
# (comma-separated names), history_schema and history_table (the names as given, not quoted).
PREFLIGHT_SQL = """\
SELECT current_setting('server_version_num')::int AS server_version_num,
       current_setting('server_version') AS server_version,
       pg_is_in_recovery() AS in_recovery,
       -- Which server this is, whatever address reached it: a fleet refuses two hosts on one database.
       (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
       current_database() AS database,
       current_user AS login_role,
       current_schema() AS current_schema,
       coalesce(has_schema_privilege(current_schema(), 'CREATE'), false) AS can_create_in_schema,
       ARRAY(SELECT required FROM unnest(string_to_array(%(extensions)s, ',')) AS required
              WHERE NOT EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = required)) AS missing_extensions,
       ARRAY(SELECT required FROM unnest(string_to_array(%(extensions)s, ',')) AS required
              WHERE NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = required)
                AND EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = required)
                AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                AND NOT (has_database_privilege(current_database(), 'CREATE')
                         AND coalesce((SELECT bool_or(v.trusted) FROM pg_available_extension_versions v
                                        WHERE v.name = required), false))) AS uncreatable_extensions,
       -- The history table and its schema, and what this role may do with them: the preflight names the GRANT
       -- that is missing before anything is created (CREATE on the database only matters without the schema).
       quote_ident(current_user) AS login_role_sql,
       quote_ident(current_database()) AS database_sql,
       quote_ident(current_schema()) AS current_schema_sql,
       %(history_schema)s AS history_schema,
       quote_ident(%(history_schema)s) AS history_schema_sql,
       quote_ident(%(history_schema)s) || '.' || quote_ident(%(history_table)s) AS history_sql,
       has_database_privilege(current_database(), 'CREATE') AS can_create_in_database,
       h.oid IS NOT NULL AS history_schema_exists,
       coalesce(has_schema_privilege(h.oid, 'USAGE'), false) AS can_use_history_schema,
       coalesce(has_schema_privilege(h.oid, 'CREATE'), false) AS can_create_in_history_schema,
       t.oid IS NOT NULL AS history_exists,
       ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p
              WHERE has_table_privilege(t.oid, p)) AS history_privileges
  FROM (SELECT 1) AS one
  LEFT JOIN pg_namespace h ON h.nspname = %(history_schema)s
  LEFT JOIN pg_class t ON t.relnamespace = h.oid AND t.relname = %(history_table)s
"""

# The schema as the catalogs describe it, as one JSON document (takes ACCESS SHARE on catalog tables only).
# Named argument: schema. Compared with the change set's expected schema by verification, and the source of
# tools/expected_schema.py (which writes that file).
CATALOG_SQL = """\
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
"""
