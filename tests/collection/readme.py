"""The README's "Use it in your own project" section, taken apart: the project files it shows, the
environment it asks for, and the commands it runs. The test runs exactly these, so the README cannot
drift from what works."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.ansible_run import BIN, ROOT, PlaybookRun

README = ROOT / "README.md"
SECTION = "## Use it in your own project"
# The setup (copy, build, enter the project, install) runs in one shell that starts in the repository and
# ends in the project; every command after the installation runs on its own in the project, so that the
# test can look at the database between them.
ENTER_PROJECT = 'cd "$PROJECT"'
INSTALL = "ansible-galaxy collection install "


def section(readme: str | None = None) -> str:
    text = README.read_text() if readme is None else readme
    start = text.index(SECTION)
    following = text.find("\n## ", start + len(SECTION))
    return text[start : following if following != -1 else len(text)]


def project_files(text: str) -> dict[str, str]:
    """{file name: content} of every fenced block marked <!-- own-project:file NAME -->."""
    found = re.findall(r"<!-- own-project:file (\S+) -->\n```\w*\n(.*?)```", text, re.DOTALL)
    names = [name for name, _ in found]
    assert len(names) == len(set(names)), f"a project file is shown twice: {names}"
    return dict(found)


def exported_variables(text: str) -> list[str]:
    """The names the section's first bash block exports (step 1), in order."""
    first = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert first, "the section needs a bash block that sets the environment"
    names: list[str] = []
    for line in first.group(1).splitlines():
        code = line.split("#", 1)[0]
        for statement in re.findall(r"\bexport ([^;&|]*)", code):
            names.extend(re.findall(r"\b([A-Z_][A-Z0-9_]*)(?==|\s|$)", statement))
    return names


def commands(text: str) -> tuple[str, list[str]]:
    """(the script that runs in the repository, the commands that run in the project one by one)."""
    found = re.findall(r"<!-- own-project:begin -->\n```bash\n(.*?)```\n<!-- own-project:end -->", text, re.DOTALL)
    assert len(found) == 1, "the section needs exactly one marked bash block (<!-- own-project:begin/end -->)"
    lines = [line for line in found[0].splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert lines.count(ENTER_PROJECT) == 1, f"the commands must enter the project once: {ENTER_PROJECT}"
    installs = [i for i, line in enumerate(lines) if line.startswith(INSTALL)]
    assert len(installs) == 1 and installs[0] > lines.index(ENTER_PROJECT), "install once, in the project"
    split = installs[0] + 1
    assert not any(line.startswith("cd ") for line in lines[split:]), "the commands after the install stay put"
    return "\n".join(lines[:split]) + "\n", lines[split:]


def write_project(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True)
    for name, content in files.items():
        (directory / name).write_text(content)


def outsider_environment() -> dict[str, str]:
    """The environment of a shell with nothing of this repository's Ansible or PostgreSQL setup: no ANSIBLE_*
    or PG* variables, no virtualenv or PYTHONPATH (the caller adds HOME and what the section exports)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PG", "ANSIBLE_")) and key not in ("VIRTUAL_ENV", "PYTHONPATH")
    }


def operator_shell(tmp_path: Path, **exported: str) -> dict[str, str]:
    """An outsider's shell (outsider_environment) with a fresh HOME and TMPDIR under TMP_PATH, this repository's
    pinned Ansible first on PATH, no colours, and EXPORTED (what the operator exported)."""
    env = outsider_environment()
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    env.update(
        HOME=str(home),
        TMPDIR=str(scratch),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **exported,
    )
    return env


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> PlaybookRun:
    """Run ARGV in the project as its operator would, output and exit status kept for the assertions."""
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(result.returncode, result.stdout + result.stderr)
