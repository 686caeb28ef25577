# pg_migrate: the checks before anything is changed on a database — does it answer, and can this change set
# run there (not a standby, recent enough, extensions available and creatable, CREATE in the schema).
# Pure functions over the server's facts (queries.PREFLIGHT_SQL) and the connection settings, so the
# messages are the same on the controller path and on the managed host.

from __future__ import annotations

import re

TLS_WORDS = re.compile(r"ssl|tls|certificate|root cert", re.IGNORECASE)

POOLING_HINT = (
    "This connection goes through PgBouncer statement pooling (pool_mode=statement), which refuses "
    "transactions; pg_migrate applies each migration with its history row in one transaction under a session "
    "advisory lock. Connect directly to PostgreSQL (pg_migrate_login_host and pg_migrate_login_port of the "
    "server, not of PgBouncer), or through a PgBouncer database entry with pool_mode=session, e.g. in "
    "[databases]: {db}_migrate = host=<server> dbname={db} pool_mode=session. Nothing was changed."
)
TLS_HINT = (
    "This is a TLS problem: pg_migrate_ssl_mode is {ssl_mode} and pg_migrate_ca_cert is {ca_cert}. With "
    "require, verify-ca or verify-full the server must have TLS enabled (ssl = on); verify-ca and verify-full "
    "also need pg_migrate_ca_cert to name, on the managed host, the CA certificate that signed the server's "
    "certificate (and verify-full a certificate whose name matches pg_migrate_login_host). Use "
    "pg_migrate_ssl_mode=prefer or disable only where the network is trusted."
)
PASSWORD_HINT = (
    "The server wants a password{given}: pg_migrate_login_password comes from the inventory: keep it in "
    "Ansible Vault (run with --ask-vault-pass or a vault password file) or look it up from the environment "
    "(lookup('ansible.builtin.env', ...)), and check that it is set for this host."
)
DEFAULT_HINT = "Check that the server runs and that the connection settings (pg_migrate_login_*) are right."


def connection_hint(params: dict, error: str) -> str:
    """What to do about ERROR, the driver's reason for not connecting with PARAMS (the module's options)."""
    if "no password supplied" in error or "password authentication failed" in error:
        given = " and rejected the one given" if params.get("login_password") else " and none was given"
        return PASSWORD_HINT.format(given=given)
    if TLS_WORDS.search(error):
        return TLS_HINT.format(ssl_mode=params.get("ssl_mode"), ca_cert=params.get("ca_cert") or "not set")
    if "pooling mode" in error:
        return POOLING_HINT.format(db=params["login_db"])
    return DEFAULT_HINT


def connection_failure_message(host: str, params: dict, error: str) -> str:
    """The run's message when the server does not answer (or refuses the connection)."""
    return "Cannot connect to PostgreSQL from %s (database %s, host %s, port %s, user %s): %s. %s" % (
        host,
        params["login_db"],
        params.get("login_host") or "local socket",
        params.get("login_port"),
        params.get("login_user"),
        error or "no error given",
        connection_hint(params, error or ""),
    )


def standby_skip_message(host: str) -> str:
    return (
        "%s is a hot standby (pg_is_in_recovery() is true): migrations run on the primary and reach it by "
        "replication. Skipped." % host
    )


def server_problems(server: dict, action: str, min_server_version: int) -> list[str]:
    """Why this change set cannot run on SERVER (the preflight query's row); empty when it can.

    status is read-only and reads the history that replication brings: it runs on a standby too."""
    problems = []
    if server["in_recovery"] and action != "status":
        problems.append("it is a hot standby: run against the primary.")
    if int(server["server_version_num"]) < int(min_server_version) * 10000:
        problems.append("server version below the minimum %s." % min_server_version)
    if server["missing_extensions"]:
        problems.append(
            "extensions not available on the server: %s (install the package that ships them, e.g. "
            "postgresql-contrib)." % ", ".join(server["missing_extensions"])
        )
    if server["uncreatable_extensions"]:
        problems.append(
            "role %s may not create extension(s) %s (needs superuser, or CREATE on the database for trusted "
            "extensions)." % (server["login_role"], ", ".join(server["uncreatable_extensions"]))
        )
    if not server["can_create_in_schema"]:
        problems.append(
            "role %s may not create objects in schema %s, where the change set's unqualified names go (the "
            "first schema of its search_path): GRANT CREATE ON SCHEMA %s TO %s;"
            % (server["login_role"], server["current_schema"], server["current_schema_sql"], server["login_role_sql"])
        )
    return problems + history_problems(server, action)


# What each action does with the history table (migrate creates it when it is absent).
HISTORY_NEEDS = {
    "migrate": ("SELECT", "INSERT"),
    "seed": ("SELECT", "INSERT"),
    "rollback": ("SELECT", "DELETE"),
}


def history_problems(server: dict, action: str) -> list[str]:
    """The privileges on the history table and its schema that ACTION needs and the login role lacks, each with
    the GRANT that gives it. CREATE on the database is needed only to create a history schema that is absent."""
    role, history = server["login_role_sql"], server["history_sql"]
    schema, schema_sql = server["history_schema"], server["history_schema_sql"]
    if not server["history_schema_exists"]:
        if action != "migrate" or server["can_create_in_database"]:
            return []
        return [
            "the history schema %s does not exist and role %s may not create it (that needs CREATE on database "
            "%s): GRANT CREATE ON DATABASE %s TO %s; or create the schema for it: CREATE SCHEMA %s AUTHORIZATION "
            "%s;" % (schema, server["login_role"], server["database"], server["database_sql"], role, schema_sql, role)
        ]
    missing = [] if server["can_use_history_schema"] else ["USAGE"]
    said = schema == server["current_schema"] and not server["can_create_in_schema"]  # by server_problems
    if action == "migrate" and not server["history_exists"] and not server["can_create_in_history_schema"] and not said:
        missing.append("CREATE")
    problems = []
    if missing:
        problems.append(
            "role %s may not %s the history table %s in schema %s: GRANT %s ON SCHEMA %s TO %s;"
            % (
                server["login_role"],
                "create" if "CREATE" in missing else "reach",
                history,
                schema,
                ", ".join(missing),
                schema_sql,
                role,
            )
        )
    lacking = [p for p in HISTORY_NEEDS.get(action, ("SELECT",)) if p not in server["history_privileges"]]
    if server["history_exists"] and lacking:
        problems.append(
            "role %s may not %s the history table %s: GRANT %s ON %s TO %s;"
            % (
                server["login_role"],
                "read" if lacking == ["SELECT"] else "write",
                history,
                ", ".join(lacking),
                history,
                role,
            )
        )
    return problems


def preflight_failure_message(host: str, database: str, server: dict, problems: list[str]) -> str:
    return "Preflight failed on %s (database %s, PostgreSQL %s): %s Nothing was changed." % (
        host,
        database,
        server["server_version"],
        " ".join(problems),
    )
