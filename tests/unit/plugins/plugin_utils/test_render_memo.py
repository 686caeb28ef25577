"""plugin_utils/render_memo.py and host_variables.py: a fleet task's hosts share the renders of their templates
(Ansible's own Templar renders them), only where the render cannot differ."""

from __future__ import annotations

from collections import ChainMap

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.pg_migrate.engine.plugins.plugin_utils import host_variables, role_settings
from ansible_collections.pg_migrate.engine.plugins.plugin_utils.render_memo import RenderMemo, steady_names

T = trust_as_template


class CountingTemplar:
    """Ansible's Templar, counting the renders that reach it."""

    def __init__(self) -> None:
        self.templar = Templar(loader=DataLoader(), variables={})
        self.renders = 0

    def copy_with_new_env(self, available_variables):
        outer, inner = self, self.templar.copy_with_new_env(available_variables=available_variables)

        class Copy:
            def template(self, value):
                outer.renders += 1
                return inner.template(value)

        return Copy()


def host(templar, raw: dict, memo: RenderMemo | None, defaults: dict | None = None) -> host_variables.HostVariables:
    return host_variables.HostVariables(templar, raw, {}, {}, {}, defaults or {}, memo)


def test_hosts_that_give_a_template_the_same_values_share_its_render():
    templar, memo = CountingTemplar(), RenderMemo()
    defaults = {"pg_migrate_migrations_dir": T("{{ pg_migrate_project_dir }}/migrations")}
    renders = [
        host(templar, {"pg_migrate_project_dir": "/srv/p", "pg_migrate_db": name}, memo, defaults).render(
            "pg_migrate_migrations_dir"
        )
        for name in ("a", "b", "c")
    ]
    assert renders == ["/srv/p/migrations"] * 3
    assert templar.renders == 1


def test_a_different_value_anywhere_in_the_chain_renders_again():
    templar, memo = CountingTemplar(), RenderMemo()
    defaults = {
        "pg_migrate_reports_dir": T("{{ pg_migrate_project_dir }}/reports"),
        "pg_migrate_project_dir": T("{{ base }}/project"),
    }
    first = host(templar, {"base": "/one"}, memo, defaults).render("pg_migrate_reports_dir")
    second = host(templar, {"base": "/two"}, memo, defaults).render("pg_migrate_reports_dir")
    again = host(templar, {"base": "/one"}, memo, defaults).render("pg_migrate_reports_dir")
    assert (first, second, again) == ("/one/project/reports", "/two/project/reports", "/one/project/reports")
    assert templar.renders == 2


def test_a_database_name_in_the_template_renders_it_for_each_database():
    templar, memo = CountingTemplar(), RenderMemo()
    defaults = {"pg_migrate_remote_dir": T("/var/lib/pg_migrate/{{ pg_migrate_db }}")}
    names = [host(templar, {"pg_migrate_db": db}, memo, defaults).render("pg_migrate_remote_dir") for db in "ab"]
    assert names == ["/var/lib/pg_migrate/a", "/var/lib/pg_migrate/b"] and templar.renders == 2


def test_env_lookups_are_shared_and_lookups_that_may_differ_are_not(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PG_MIGRATE_MEMO_TEST", "db.example")
    templar, memo = CountingTemplar(), RenderMemo()
    raw = {
        "by_env": T("{{ lookup('env', 'PG_MIGRATE_MEMO_TEST') }}"),
        "by_pipe": T("{{ lookup('pipe', 'echo x') }}"),
        "at": T("{{ now() }}"),
        "shuffled": T("{{ [1, 2] | shuffle }}"),
    }
    for _ in range(3):
        assert host(templar, raw, memo).render("by_env") == "db.example"
    assert templar.renders == 1
    assert steady_names(memo.environment, raw["by_pipe"]) is None
    assert steady_names(memo.environment, raw["at"]) is None
    assert steady_names(memo.environment, raw["shuffled"]) is None
    assert steady_names(memo.environment, "{{ x | ansible.builtin.to_json }}") == {"x"}


def test_untrusted_strings_and_values_that_are_not_templates_never_reach_the_memo():
    templar, memo = CountingTemplar(), RenderMemo()
    raw = {"given": "{{ not_rendered }}", "port": 5432, "plain": "text"}  # "given": data, not a template
    variables = host(templar, raw, memo)
    assert [variables.render(name) for name in raw] == ["{{ not_rendered }}", 5432, "text"]
    assert memo.renders == {}


def test_a_host_value_that_cannot_be_a_key_is_rendered_without_the_memo():
    templar, memo = CountingTemplar(), RenderMemo()
    raw = {"shown": T("{{ thing.name }}"), "thing": ChainMap({"name": "x"})}
    for _ in range(2):
        assert host(templar, raw, memo).render("shown") == "x"
    assert templar.renders == 2


def test_validation_is_shared_by_equal_values_and_still_names_every_wrong_value():
    given = {"pg_migrate_db": "xp", "pg_migrate_lock_timeout": "5s"}
    first = role_settings.validated_role_variables(given.__getitem__, given.__contains__)
    first["pg_migrate_db"] = "changed by its caller"
    second = role_settings.validated_role_variables(given.__getitem__, given.__contains__)
    assert second["pg_migrate_db"] == "xp"  # each caller gets its own copy
    wrong = dict(given, pg_migrate_lock_retries="many")
    with pytest.raises(Exception, match="pg_migrate_lock_retries"):
        role_settings.validated_role_variables(wrong.__getitem__, wrong.__contains__)


def test_the_host_view_renders_settings_but_hands_over_registered_results_as_they_are():
    templar = CountingTemplar()
    wave = {"runs": {"h1": {"summary": ["{{ not a template }}"]}}}
    raw = {"pg_migrate_db": T("{{ name }}"), "name": "xp_1", "__pg_migrate_fleet_wave": wave}

    class Hostvars:
        def raw_get(self, name):
            assert name == "h1"
            return raw

    view = host_variables.HostView(templar, Hostvars(), "h1")
    assert view["pg_migrate_db"] == "xp_1" and view.get("missing", 7) == 7
    assert view["__pg_migrate_fleet_wave"] is wave
    assert templar.renders == 1
