"""The README's sample outputs are what the demo really gives (positron.demo.readme generates them). When the merge,
the demo data or the response shape changes, this fails with the command that rewrites them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from positron.demo import readme

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FIX = "python -m positron.demo.readme --write   (from the repository root, with .venv/bin/python)"


def test_the_readme_samples_are_the_demos_real_output() -> None:
    text = README.read_text(encoding="utf-8")
    names = [m["name"] for m in readme.BLOCK.finditer(text)]
    assert sorted(names) == sorted(readme.SAMPLES)  # every sample is in the README, once
    stale = readme.stale(text)
    assert not stale, f"README.md samples {sorted(stale)} differ from the demo's output; run: {FIX}"
    sample = readme.BLOCK.search(text)
    assert sample is not None and '"value": "laptop-7"' in sample["body"] and "dhcpd.leases:" in sample["body"]


def test_a_stale_sample_is_found_and_rewritten(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8").replace('"value": "laptop-7"', '"value": "ws-042"', 1)
    copy.write_text(text.replace('"took_ms": ', '"took_ms": 9', 1), encoding="utf-8")
    command = [sys.executable, "-m", "positron.demo.readme", "--readme", str(copy)]
    check = subprocess.run(command, capture_output=True, cwd=tmp_path)  # not the checkout: the installed package
    assert check.returncode == 1 and b"sample ip_to_hostname_at is stale" in check.stderr
    assert subprocess.run([*command, "--write"], capture_output=True, cwd=tmp_path).returncode == 0
    assert readme.stale(copy.read_text(encoding="utf-8")) == {}


def test_only_timings_differing_is_not_stale() -> None:
    a = '{"took_ms": 1.5, "providers": [{"elapsed_ms": 0.2}], "value": "x"}'
    b = '{"took_ms": 17.0, "providers": [{"elapsed_ms": 3}], "value": "x"}'
    assert readme.normalized(a) == readme.normalized(b)
    assert readme.normalized(a) != readme.normalized(b.replace('"x"', '"y"'))
