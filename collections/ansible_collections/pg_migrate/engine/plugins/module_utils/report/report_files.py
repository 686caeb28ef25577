# pg_migrate: the report files of a run, written whole or not at all where CI and operators collect them.

from __future__ import annotations

import os

from ansible_collections.pg_migrate.engine.plugins.module_utils.common.files import write_atomically


def write_report_files(directory: str, name: str, json_text: str, junit_text: str) -> list[str]:
    """Write NAME.json and NAME.junit.xml into DIRECTORY (created 0755 when missing); their paths.

    Each file is written to a temporary name beside it and renamed, so a reader (a CI job collecting the
    JUnit file, an operator's script) never sees half a report."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    if os.stat(directory).st_mode & 0o777 != 0o755:  # whatever the umask: others read the reports (CI jobs)
        os.chmod(directory, 0o755)
    paths = []
    for suffix, text in ((".json", json_text), (".junit.xml", junit_text)):
        path = os.path.join(directory, name + suffix)
        write_atomically(path, text)
        paths.append(path)
    return paths
