"""Write the answer-quality section of docs/benchmarks.md; the speed sections around it are left as they are."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from bench.quality.metrics import __doc__ as DEFINITIONS
from bench.quality.world import Params

OUT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
TITLE = "## Answer quality (ground truth)"


def section(params: Params, table: str) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in asdict(params).items())
    definitions = "\n".join(line for line in (DEFINITIONS or "").splitlines()[2:] if line.strip())
    return (
        f"{TITLE}\n\n"
        "`python -m bench.quality --write` (also part of `./dev bench`): a simulated enterprise with known truth "
        "(bench/quality/world.py), written out as an ISC lease file, a Kea lease file that keeps only the last "
        "days, Splunk events (the splunkd emulator), an inventory CSV, an HR export and a real slapd, asked "
        "through a real `positron serve`. Calibration constants were fitted on seed 1 "
        "(positron/calibration.py); this table is seed "
        f"{params.seed}, which they were not fitted on.\n\nParameters: {settings}.\n\n"
        f"```\n{definitions}\n```\n\n{table}\n"
    )


def write(params: Params, table: str) -> None:
    text = OUT.read_text(encoding="utf-8")
    new = section(params, table)
    if TITLE in text:
        head, _, rest = text.partition(TITLE)
        nxt = rest.find("\n## ")
        text = head + new + (rest[nxt:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + new
    OUT.write_text(text, encoding="utf-8")
