"""Every metric the catalogue declares is written by some code: a declared family that nothing
feeds is exported at zero forever and reads as "all is well" on a dashboard."""

from __future__ import annotations

from pathlib import Path

from supervision.metrics.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[3]


def test_every_context_metric_in_the_catalogue_is_recorded_somewhere() -> None:
    sources = [path.read_text() for package in ("actors", "supervision", "protocols")
               for path in (ROOT / package).rglob("*.py") if path.name != "catalog.py"]
    unused = sorted(name for name, spec in CATALOG.items() if spec.origin == "context"
                    and not any(f'"{name}"' in text for text in sources))
    assert unused == [], f"declared but never recorded: {unused}"
