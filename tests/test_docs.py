"""The documentation agrees with the program (issue 28, item 13): facts a newcomer read in
one place and found otherwise in another."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from wskrecv.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MAN = (ROOT / "man" / "wskrecv.1").read_text()
CONFIG = (ROOT / "wskrecv" / "config.py").read_text()
MEASURE = "wskrecv bench -m python -m irp-1 -m irp-64"


def listen_help() -> str:
    result = CliRunner().invoke(cli, ["listen", "--help"], terminal_width=200)
    assert result.exit_code == 0
    return result.output


def test_n1_against_n64_is_measured_in_one_place_with_how_to_measure_it_again() -> None:
    """`listen --help`, the README, config.py and the man page gave four different
    figures for -n 1 against -n 64. The README's Benchmarks section holds the one
    measured statement and the command that re-measures it; the others point to it."""
    ratio = re.compile(r"\d+(\.\d+)?x|about half|two thirds|\d+k/s")
    for name, text in (("listen --help", listen_help()), ("config.py", CONFIG)):
        outstanding = text[text.index("outstanding"):][:900]
        assert not ratio.search(outstanding), (name, ratio.search(outstanding))
        assert MEASURE in " ".join(text.replace("#", " ").split()), name  # comments too
    man_n = MAN[MAN.index('.BR \\-n ", " \\-\\-outstanding'):][:900]
    assert not ratio.search(man_n) and MEASURE.replace("-", "\\-") in man_n
    listen_section = README[README.index("### The IRP style"):README.index("### The event style")]
    assert not ratio.search(listen_section) and MEASURE in listen_section
    section = README[README.index("### -n 1 against -n 64"):README.index("### Workers")]
    assert ratio.search(section) and MEASURE in section  # the figure, and how to re-measure
    elsewhere = README.replace(section, "").replace(listen_section, "")
    assert not re.search(r"-n 64` (drains|holds|is about)|1\.8x as fast", elsewhere)


def test_the_quick_start_says_how_to_read_the_manual_after_an_editable_install() -> None:
    """After the README's second set-up command (pip install -e), `man wskrecv` found no
    page and the quick start did not say how to read it."""
    quick = README[README.index("## Quick start"):README.index("## What it shows")]
    editable = quick.index("pip install -e")
    assert "man -l man/wskrecv.1" in quick[editable:]
    assert (ROOT / "man" / "wskrecv.1").is_file()
