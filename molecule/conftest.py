"""Shared by every scenario's testinfra tests: molecule/shared holds the helpers and common tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared"))
