# Copyright: (c) 2026, dbferry maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action dbferry.mysql.settings: a role's effective settings for this host, and the layer each one comes from.

Why an action plugin: only the controller knows the layers. Ansible merges role defaults, group_vars/all, the groups'
group_vars, host_vars and -e into one value per variable and keeps no note of where it came from; this plugin asks
each layer on its own, through the same inventory and vars plugins Ansible used, and adds the one layer Ansible does
not have, an environment variable DBFERRY_<OPTION> for one run (between host_vars and -e). The values it takes from the
environment are set as facts, which rank above the inventory's layers and below -e, as that layer should.
"""

from __future__ import annotations

import json
import os
from typing import Any

import yaml
from ansible.errors import AnsibleActionFail
from ansible.inventory.helpers import sort_groups
from ansible.module_utils.common.validation import check_type_bool, check_type_dict, check_type_float, check_type_int, check_type_list
from ansible.plugins.action import ActionBase
from ansible.vars.plugins import get_vars_from_inventory_sources

#: The collection's roles, next to plugins/.
ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
#: What an environment variable's text becomes, by the argument spec's type (str and path stay text).
_CONVERT = {"bool": check_type_bool, "int": check_type_int, "float": check_type_float, "dict": check_type_dict,
            "list": lambda text: check_type_list(yaml.safe_load(text)), "raw": yaml.safe_load}
#: Keys of a setting's value never shown.
_SECRET_KEYS = ("password",)


def environment_name(variable: str) -> str:
    """dbferry_chunk_size -> DBFERRY_CHUNK_SIZE."""
    return variable.upper()


def _shown(value: Any) -> Any:
    """The value as printed: passwords masked, at any depth."""
    if isinstance(value, dict):
        return {k: "********" if k in _SECRET_KEYS and v not in (None, "") else _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(item) for item in value]
    return value


def _text(value: Any) -> str:
    """A value on one line: text as it is, anything else as JSON (true, null, {"user": "dba"})."""
    return str(value) if isinstance(value, str) else json.dumps(value, default=str)


class ActionModule(ActionBase):
    """See the module's documentation (plugins/modules/settings.py)."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("role", "entry_point"))

    def _layers(self, task_vars: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The inventory's layers for this host, lowest first: each group (all first, then by depth, priority and name, as
        Ansible merges them), then the host; each with its inline inventory vars and its vars plugins' (group_vars/, host_vars/)."""
        hostvars = task_vars["hostvars"]
        inventory = hostvars._inventory  # pylint: disable=protected-access
        host = inventory.get_host(task_vars["inventory_hostname"])
        layers = []
        for entity, label in [(group, "group_vars/%s" % group.name) for group in sort_groups(host.get_groups())] + [(host, "host_vars/%s" % host.name)]:
            found = dict(entity.vars)
            found.update(get_vars_from_inventory_sources(self._loader, inventory._sources, [entity], "task"))  # pylint: disable=protected-access
            layers.append((label, found))
        return layers

    def _specs(self, role: str, entry_point: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The role's options of the entry point (argument specs) and its defaults."""
        folder = os.path.join(ROLES, role)
        try:
            with open(os.path.join(folder, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
                options = yaml.safe_load(handle)["argument_specs"][entry_point]["options"]
            with open(os.path.join(folder, "defaults", "main.yml"), encoding="utf-8") as handle:
                defaults = yaml.safe_load(handle) or {}
        except (OSError, KeyError) as exc:
            raise AnsibleActionFail("dbferry.mysql.settings: no role %s with an entry point %s (%s)." % (role, entry_point, exc)) from None
        return options, defaults

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        super().run(tmp, task_vars)
        task_vars = task_vars or {}
        role = self._task.args.get("role", "alter")
        options, defaults = self._specs(role, self._task.args.get("entry_point", "main"))
        extra_vars = task_vars["hostvars"]._variable_manager.extra_vars  # pylint: disable=protected-access
        layers = [("role defaults", defaults)] + self._layers(task_vars)
        settings, facts = [], {}
        for name, spec in options.items():
            env = environment_name(name)
            if name in extra_vars:
                value, source = extra_vars[name], "-e"
            elif env in os.environ:
                try:
                    value = _CONVERT.get(spec.get("type"), str)(os.environ[env])
                except (TypeError, ValueError) as exc:
                    raise AnsibleActionFail("the environment variable %s=%r is not a %s: %s. Fix: set it to a %s, or unset it." % (
                        env, os.environ[env], spec.get("type"), exc, spec.get("type"))) from None
                source = "environment %s" % env
                facts[name] = value
            else:
                value, source = self._inventory_value(name, task_vars, layers)
            settings.append({"name": name, "value": _shown(self._templar.template(value)), "source": source})
        return {"changed": False, "settings": settings, "ansible_facts": facts,
                "lines": ["%s = %s  (%s)" % (s["name"], _text(s["value"]), s["source"]) for s in settings]}

    @staticmethod
    def _inventory_value(name: str, task_vars: dict[str, Any], layers: list[tuple[str, dict[str, Any]]]) -> tuple[Any, str]:
        """The value Ansible resolved and the highest layer that gives that value; a value no layer gives came from
        elsewhere (play vars, set_fact, the inventory file's own vars)."""
        if name not in task_vars:
            for label, found in layers[:1]:
                if name in found:
                    return found[name], label
            return None, "not set"
        value = task_vars[name]
        for label, found in reversed(layers):
            if name in found and found[name] == value:
                return value, label
        return value, "play or task vars"
