# pg_migrate: a fleet file as the fleet inventory plugin reads it - every mistake an operator might make in it
# refused with a message that names the server, database or key and the fix, and its databases as hosts, in
# rollout order. The plugin (plugins/inventory/fleet.py) adds them to the inventory.

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ansible.errors import AnsibleParserError

from ansible_collections.pg_migrate.engine.plugins.module_utils.fleet.rules import spread

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
WHOLE = re.compile(r"^\s*-?\d+\s*$")
# The keys a fleet file, a server, a database entry and a database_range may have: anything else is a typo that
# would otherwise be ignored (a fleet without its canaries, a server without its databases).
TOP_KEYS = ("plugin", "servers", "vars", "canary", "runner")
SERVER_KEYS = ("databases", "database_range", "vars")
DATABASE_KEYS = ("name", "canary", "tags", "vars")
RANGE_KEYS = ("prefix", "count", "first", "width", "count_env")
SERVER_FORM = "databases: [<name>, ...] or database_range: {prefix: <prefix>, count: <number>}"


def problem(path: str, what: str) -> AnsibleParserError:
    return AnsibleParserError("fleet file %s: %s" % (path, what))


def kind(value) -> str:
    """What VALUE is, for a message: a list, a string ('x'), a number (3), nothing."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean (%s)" % str(value).lower()
    if isinstance(value, (int, float)):
        return "a number (%s)" % value
    if isinstance(value, str):
        return "a string (%r)" % value
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence):
        return "a list"
    return "a %s" % type(value).__name__


def _shown(value) -> str:
    """VALUE as the file spells it: 'forty', -3, true."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _scalar(value) -> bool:
    """A name as YAML may give it: text or a number (a database 2024), not a boolean."""
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _known_keys(path: str, where: str, found: Mapping, allowed: tuple[str, ...]) -> None:
    """Refuse the first key of FOUND that is not one of ALLOWED, with the closest allowed key as a hint."""
    for key in found:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            raise problem(
                path,
                "%sunknown key %r%s - the keys are %s"
                % (where, key, " (did you mean %r?)" % hint[0] if hint else "", ", ".join(allowed)),
            )


def mapping(path: str, where: str, value, key: str) -> dict:
    """A `vars` or `runner` mapping (nothing: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise problem(path, "%s%r must be a mapping (%s: {name: value, ...}), not %s" % (where, key, key, kind(value)))
    return dict(value)


def _whole(value) -> int | None:
    """VALUE as an integer when it is a whole number (1, "1", -1), else None (booleans, fractions, words)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and WHOLE.match(value):
        return int(value)
    return None


def _range_count(path: str, server: str, ranged: Mapping) -> int:
    """The count of a database_range: count_env's variable when it is set (and not empty), else count."""
    where = "server %s: database_range " % server
    variable = ranged.get("count_env")
    if variable is not None and (not isinstance(variable, str) or not variable.strip()):
        raise problem(
            path,
            where
            + "count_env must be the name of an environment variable (count_env: FLEET_SIZE), not %s" % kind(variable),
        )
    value = os.environ.get(variable, "") if variable else ""
    if value.strip():
        count = _whole(value)
        if count is None:
            raise problem(
                path,
                where + "count_env %s is %r, not a whole number - set %s to the number of databases, or unset it "
                "for the file's count (%s)" % (variable, value, variable, _shown(ranged.get("count"))),
            )
        origin = " (from count_env: %s=%s)" % (variable, value.strip())
        fix = "set %s to 1 or more, or unset it for the file's count (%s)" % (variable, _shown(ranged.get("count")))
    else:
        if ranged.get("count") is None:
            raise problem(path, where + "needs a count (the number of databases), e.g. count: 40")
        count = _whole(ranged["count"])
        if count is None:
            raise problem(
                path,
                where
                + "count %s is not a whole number - give the number of databases, e.g. count: 40"
                % _shown(ranged["count"]),
            )
        origin, fix = "", "set count to 1 or more"
    if count < 0:
        raise problem(path, where + "count is %d%s: it must be a whole number, 1 or more" % (count, origin))
    if count == 0:
        raise problem(
            path,
            where + "count is 0%s: a server needs at least one database - %s, or remove the server" % (origin, fix),
        )
    return count


def _range(path: str, server: str, ranged) -> list[dict]:
    """The databases of a database_range: prefix + first, first + 1, ... zero-padded to width digits."""
    where = "server %s: database_range " % server
    if not isinstance(ranged, Mapping):
        raise problem(path, where + "must be a mapping ({prefix: <prefix>, count: <number>}), not %s" % kind(ranged))
    _known_keys(path, "server %s: database_range: " % server, ranged, RANGE_KEYS)
    count = _range_count(path, server, ranged)
    numbers = {}
    for key, default, least in (("first", 1, 0), ("width", 3, 1)):
        value = ranged.get(key, default)
        numbers[key] = _whole(value)
        if numbers[key] is None or numbers[key] < least:
            raise problem(
                path,
                where
                + "%s is %s: it must be a whole number, %d or more (default %d)" % (key, _shown(value), least, default),
            )
    prefix = "" if ranged.get("prefix") is None else ranged["prefix"]
    if not _scalar(prefix):
        raise problem(path, where + "prefix must be text (prefix: xp_shard_), not %s" % kind(prefix))
    first, width = numbers["first"], numbers["width"]
    return [
        {
            "name": "%s%0*d" % (prefix, width, number),
            "canary": False,
            "tags": [],
            "vars": {},
            "origin": "database_range",
        }
        for number in range(first, first + count)
    ]


def _entry(path: str, server: str, position: int, entry) -> dict:
    """One item of a server's `databases`: a name, or a mapping with name, canary, tags and vars."""
    if _scalar(entry):
        entry = {"name": entry}
    elif not isinstance(entry, Mapping):
        raise problem(
            path,
            "server %s: database entry %d is %s: give a name, or {name: <name>, canary: true, tags: [...], "
            "vars: {...}}" % (server, position, kind(entry)),
        )
    name = entry.get("name")
    if not _scalar(name) or not str(name).strip():
        raise problem(path, "server %s: database entry %d has no name - add name: <database>" % (server, position))
    where = "server %s, database %s: " % (server, name)
    _known_keys(path, where, entry, DATABASE_KEYS)
    canary = entry.get("canary", False)
    if not isinstance(canary, bool):
        raise problem(path, where + "canary must be true or false, not %s" % kind(canary))
    tags = [] if entry.get("tags") is None else entry["tags"]
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise problem(path, where + "tags must be a list (tags: [%s]), not %s" % (tags, kind(tags)))
    for tag in tags:
        if not isinstance(tag, str) or not NAME.match(tag):
            raise problem(path, where + "tag %s: use letters, digits, _ . -" % _shown(tag))
    variables = mapping(path, where, entry.get("vars"), "vars")
    return {"name": str(name), "canary": canary, "tags": list(tags), "vars": variables, "origin": "databases"}


def expand_databases(path: str, server: str, spec) -> list[dict]:
    """The databases of one server as {name, canary, tags, vars, origin}, in the file's order; refuses a server
    that lists none."""
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        listed = ", ".join(str(item) for item in spec) if isinstance(spec, list) and all(map(_scalar, spec)) else ""
        raise problem(
            path,
            "server %s must be a mapping with its databases (%s) and its vars, not %s%s"
            % (server, SERVER_FORM, kind(spec), " - write %s: {databases: [%s]}" % (server, listed) if listed else ""),
        )
    _known_keys(path, "server %s: " % server, spec, SERVER_KEYS)
    listed = [] if spec.get("databases") is None else spec["databases"]
    if _scalar(listed):
        raise problem(
            path, "server %s: databases must be a list (databases: [%s]), not %s" % (server, listed, kind(listed))
        )
    if not isinstance(listed, Sequence):
        raise problem(path, "server %s: databases must be a list (databases: [...]), not %s" % (server, kind(listed)))
    found = [_entry(path, server, position, entry) for position, entry in enumerate(listed, 1)]
    if spec.get("database_range") is not None:
        found += _range(path, server, spec["database_range"])
    if not found:
        raise problem(path, "server %s lists no databases: give it %s, or remove the server" % (server, SERVER_FORM))
    for entry in found:
        if not NAME.match(entry["name"]):
            raise problem(path, "server %s: database name %r: use letters, digits, _ . -" % (server, entry["name"]))
    return found


def _canary_names(path: str, canary) -> list[str]:
    """The file's canary list (a name, or names separated by commas, as Ansible reads a list option)."""
    if canary is None:
        return []
    if isinstance(canary, str):
        canary = canary.split(",")
    if not isinstance(canary, Sequence):
        raise problem(
            path, "canary must be a list of databases (canary: [<server>-<database>, ...]), not %s" % kind(canary)
        )
    for name in canary:
        if not _scalar(name) or not str(name).strip():
            raise problem(path, "canary %s: give <server>-<database> or a database name" % _shown(name))
    return [str(name).strip() for name in canary]


def _collision(path: str, host: str, first: tuple, second: tuple) -> AnsibleParserError:
    """Two databases that make the same host name: one listed twice on a server, or two servers whose names and
    databases run together (server a, database b-c and server a-b, database c: both a-b-c)."""
    (server, database), (other_server, other_database) = first, second
    if server == other_server:
        where = "in databases" if database["origin"] == other_database["origin"] else "in databases and database_range"
        return problem(path, "server %s lists database %s twice, %s - keep one" % (server, database["name"], where))
    longer = max(server, other_server, key=len)  # it has a '-': the other server's name, then part of a database
    return problem(
        path,
        "database %s of server %s and database %s of server %s both make the host name %s (hosts are named "
        "<server>-<database>) - rename one of the servers: its name is only its name in this file and in the "
        "inventory (its connection is in its vars), e.g. %s: -> %s:"
        % (database["name"], server, other_database["name"], other_server, host, longer, longer.replace("-", "_")),
    )


def check_top(path: str, config, plugin: str, names: list[str]) -> None:
    """The file as a whole: a mapping for PLUGIN (as one of NAMES) with only the keys a fleet file has, servers,
    and vars, runner and canary of the right kind."""
    if not isinstance(config, Mapping):
        raise problem(path, "must be a mapping (plugin: %s, servers: {...}), not %s" % (plugin, kind(config)))
    if config.get("plugin") not in names:
        raise problem(path, "plugin must be %s, not %r" % (plugin, config.get("plugin")))
    _known_keys(path, "", config, TOP_KEYS)
    servers = config.get("servers")
    if servers is None or (isinstance(servers, Mapping) and not servers):
        raise problem(
            path,
            "no servers - add servers: {<server>: {%s, vars: {pg_migrate_login_host: ...}}}" % SERVER_FORM,
        )
    if not isinstance(servers, Mapping):
        raise problem(
            path,
            "'servers' must be a mapping of server name -> {%s, vars: {...}}, not %s" % (SERVER_FORM, kind(servers)),
        )
    for key in ("vars", "runner"):
        mapping(path, "", config.get(key), key)
    _canary_names(path, config.get("canary"))


class Host(NamedTuple):
    """A database of the fleet as an inventory host: <server>-<database>."""

    name: str
    server: str
    server_vars: dict
    database: dict
    canary: bool


def fleet_hosts(path: str, config: Mapping) -> list[Host]:
    """The hosts of a checked fleet file (check_top), in rollout order: the canaries first, then one database of
    each server in turn."""
    canary_names = _canary_names(path, config.get("canary"))
    entries, per_server, canaries = {}, {}, []
    for server, spec in config["servers"].items():
        if not _scalar(server) or not NAME.match(str(server)):
            raise problem(path, "server name %r: use letters, digits, _ . -" % (server,))
        server = str(server)
        hosts = per_server.setdefault(server, [])
        databases = expand_databases(path, server, spec)
        server_vars = mapping(path, "server %s: " % server, (spec or {}).get("vars"), "vars")
        for database in databases:
            host = "%s-%s" % (server, database["name"])
            if host in entries:
                raise _collision(path, host, (entries[host][0], entries[host][2]), (server, database))
            entries[host] = (server, server_vars, database)
            hosts.append(host)
            if database["canary"] or host in canary_names or database["name"] in canary_names:
                canaries.append(host)
    _known_canaries(path, canary_names, entries)
    return [Host(host, *entries[host], host in canaries) for host in spread(per_server, canaries)]


def _known_canaries(path: str, canary_names: list[str], entries: dict) -> None:
    """Refuse a canary that names no database of the file (ENTRIES: host -> (server, vars, database))."""
    names = set(entries) | {entry[2]["name"] for entry in entries.values()}
    for name in canary_names:
        if name not in names:
            hint = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
            raise problem(
                path,
                "canary %s: no database of this file has that name%s - name a host <server>-<database> (e.g. %s) "
                "or a database name" % (name, " (did you mean %r?)" % hint[0] if hint else "", next(iter(entries))),
            )
