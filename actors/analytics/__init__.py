"""Trading analytics: a node's journal records in, the report a trader reads out (pure).

`build_report(records, ReportSettings(specs, ...))` gives the figures of `report.json` and the
tables behind them; `supervision.report` writes them (JSON, Parquet, HTML). docs/analytics.md
explains every field.
"""

from actors.analytics.report import (
    CRITERION_METRICS,
    DEFAULT_CRITERIA,
    HORIZONS_S,
    Criterion,
    Report,
    ReportSettings,
    build_report,
    go_no_go_metrics,
)
from actors.analytics.tape import Tape, read_tape

__all__ = ["CRITERION_METRICS", "DEFAULT_CRITERIA", "HORIZONS_S", "Criterion", "Report",
           "ReportSettings", "Tape", "build_report", "go_no_go_metrics", "read_tape"]
