# pg_migrate: renders of one template shared by the databases of a fleet task (the preflight's read, a wave). The
# fleet's databases mostly share their settings' templates - the role's defaults ("{{ pg_migrate_project_dir
# }}/migrations"), the fleet file's vars ("{{ lookup('env', 'PGHOST') }}") - and Ansible compiles a template anew
# each time it renders one: for a fleet, rendering each database's settings was the largest part of what its
# preflight read and its wave cost the controller. A template is rendered once for each combination of the values
# it refers to (followed through the templates among them); one whose result may differ between two renders of
# the same inputs (a lookup other than env, now(), a random filter) is rendered every time.

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible.template import is_trusted_as_template
from jinja2 import Environment, nodes

# Lookups whose result is the same for the same arguments within one run (the controller's environment).
STEADY_LOOKUPS = frozenset(("env", "ansible.builtin.env"))
LOOKUP_CALLS = frozenset(("lookup", "query", "q"))
UNSTEADY_CALLS = frozenset(("now",))
UNSTEADY_FILTERS = frozenset(
    ("random", "shuffle", "password_hash", "ansible.builtin.random", "ansible.builtin.shuffle")
)
MAX_DEPTH = 8
MISSING = object()


class Unsteady(Exception):
    """This template's renders are not to be shared."""


def is_template(value: Any) -> bool:
    """Whether Ansible would render VALUE as a template: a trusted string with a brace."""
    return isinstance(value, str) and "{" in value and is_trusted_as_template(value)


def frozen(value: Any) -> Any:
    """VALUE as a hashable key (raises Unsteady for what cannot be one: objects, Ansible's hostvars)."""
    if value is None or isinstance(value, (bool, int, float)):
        return (type(value).__name__, value)
    if isinstance(value, str):
        return ("t" if is_trusted_as_template(value) else "s", str(value))
    if isinstance(value, (list, tuple)):
        return ("l", tuple(frozen(item) for item in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((str(key), frozen(item)) for key, item in value.items())))
    raise Unsteady(type(value).__name__)


class RenderMemo:
    """Renders of templates, shared while this object lives (the templates are parsed with Jinja's default syntax,
    which is Ansible's, only to find what they refer to: one that does not parse so is rendered every time)."""

    def __init__(self) -> None:
        self.environment = Environment()
        self.names: dict[str, frozenset[str] | None] = {}
        self.renders: dict[tuple, Any] = {}

    def referenced(self, text: str) -> frozenset[str] | None:
        """The variables TEXT refers to; None when its renders are not to be shared."""
        if text not in self.names:
            self.names[text] = steady_names(self.environment, text)
        return self.names[text]

    def key(self, text: str, values: Mapping, depth: int = 0) -> tuple:
        """What a render of TEXT with VALUES depends on (raises Unsteady when it is not to be shared)."""
        names = self.referenced(text)
        if names is None or depth > MAX_DEPTH:
            raise Unsteady(text)
        parts: list[Any] = [text]
        for name in sorted(names - LOOKUP_CALLS):
            value = values.get(name, MISSING)
            if value is MISSING:
                parts.append((name, "missing"))
            elif is_template(value):
                parts.append((name, self.key(value, values, depth + 1)))
            else:
                parts.append((name, frozen(value)))
        return tuple(parts)

    def render(self, value: Any, values: Mapping, render: Callable[[], Any]) -> Any:
        """VALUE rendered (RENDER()), once for the values it refers to (VALUES: the host's variables)."""
        if not is_template(value):
            return render()
        try:
            key = self.key(str(value), values)
        except Unsteady:
            return render()
        if key not in self.renders:
            self.renders[key] = render()
        return self.renders[key]


def steady_names(environment, text: str) -> frozenset[str] | None:
    """The variables TEXT refers to, or None when two renders of it with the same variables may differ (or it
    does not parse: its render says why)."""
    try:
        tree = environment.parse(text)
    except Exception:  # the render reports the template's error as Ansible does
        return None
    for call in tree.find_all(nodes.Call):
        name = getattr(call.node, "name", None)
        if name in UNSTEADY_CALLS:
            return None
        if name in LOOKUP_CALLS:
            plugin = call.args[0] if call.args else None
            if not isinstance(plugin, nodes.Const) or plugin.value not in STEADY_LOOKUPS:
                return None
    if any(node.name in UNSTEADY_FILTERS for node in tree.find_all(nodes.Filter)):
        return None
    # Every name it reads (a name it sets itself, a loop's, is read too: a key that holds more is still right).
    # Not jinja2.meta's: its code generator asks for Ansible's filters, which this environment does not have.
    return frozenset(node.name for node in tree.find_all(nodes.Name) if node.ctx == "load")
