# pg_migrate: what the role's action plugins share in their documentation: each runs on the controller as an
# action plugin (its module file documents it only), never as a background job, in check mode too, on any
# platform, and shows no diff; a module says what differs (its own attribute replaces the fragment's).

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
  platform:
    platforms: all
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  diff_mode:
    support: none
seealso:
  - module: pg_migrate.engine.pg_migrate
author: pg_migrate developers (!UNKNOWN)
"""
