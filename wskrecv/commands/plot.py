"""`wskrecv plot`: runs' JSON lines drawn as a PNG, SVG, PDF or HTML file."""

from __future__ import annotations

import os
from typing import Optional

import click

from wskrecv import units
from wskrecv.commands.numeric import number
from wskrecv.errors import UsageError

FORMATS = ("png", "svg", "pdf", "html")  # wskrecv.offline.plot.FORMATS (--help imports no more)


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="RUN.jsonl...",
                type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--output", "-o", required=True, metavar="FILE",
              help="The file to write; its extension says the format: .png, .svg, .pdf or "
              ".html (a page around the SVG).")
@click.option("--label", "labels", multiple=True, metavar="TEXT",
              help="A run's name in the legends, one per file in order (default: the file's "
              "name).")
@click.option("--title", metavar="TEXT", help="The figure's title (default: the runs and their modes).")
@click.option("--width", type=number(units.INTEGER, 400, 8000), default=1200, show_default=True,
              metavar="PIXELS", help="Width of the image; each panel is 280 pixels high.")
def plot(files: tuple[str, ...], output: str, labels: tuple[str, ...], title: Optional[str],
         width: int) -> int:
    """Draw runs from their JSON lines (--json of listen, event, run or analyze).

    One panel each for the rate, the loss per interval, the jitter, the one-way latency
    percentiles and the kernel drops per interval, the runs overlaid and labelled; a
    panel of each stream's loss when a run has them (--per-stream), of each worker's
    rate with --workers. Needs matplotlib: pip install 'wskrecv[plot]'.
    """
    fmt = os.path.splitext(output)[1].lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"--output {output}: say the format by its extension: .png, .svg, .pdf or .html")
    if len(labels) > len(files):
        raise UsageError(f"{len(labels)} --label for {len(files)} file(s): give one per file at most")
    if files.count("-") > 1:
        raise UsageError("- (standard input) can be read once")
    from wskrecv.offline.draw import draw

    draw(files, labels, output, fmt, title, width)
    return 0
