-- pg_migrate preflight: everything the role needs to know about the server, in one read-only query.
-- Named argument: extensions (comma-separated names).
SELECT current_setting('server_version_num')::int AS server_version_num,
       current_setting('server_version') AS server_version,
       pg_is_in_recovery() AS in_recovery,
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
                                        WHERE v.name = required), false))) AS uncreatable_extensions
