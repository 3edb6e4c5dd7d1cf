"""The `write` fixture of the config tests: a TOML text into a file under tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def write(tmp_path: Path) -> Any:
    def write(text: str, name: str = "node.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
