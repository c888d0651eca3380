"""Draws the compression curve (scripts/bench-compression) as a plain SVG: ratio against speed.

Usage: plot_curve.py CURVE.csv OUT.svg SUBTITLE

One line per codec, a point per level labelled with the level; speed (MB of plain records per
second, log scale) across, ratio (plain bytes / stored bytes) up. The sink's default
(`netchaos`, DEFAULT_LEVEL) is ringed. No packages: the standard library only.
"""

import csv
import math
import sys
from xml.sax.saxutils import escape

DEFAULT_CODEC, DEFAULT_LEVEL = "netchaos", 5
COLOURS = {"zlib": "#d62728", "libdeflate": "#1f77b4", "netchaos": "#2ca02c", "zstd": "#9467bd"}
LABELS = {
    "zlib": "zlib (flate2/zlib-rs, 1 core: the sink before issue 18, and Python's gzip)",
    "libdeflate": "libdeflate, one member, 1 core",
    "netchaos": "netchaos sink: libdeflate in 4 MiB members on every core",
    "zstd": "zstd, 1 core",
}
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 960, 600, 70, 20, 60, 150


def main(source, target, subtitle):
    with open(source, newline="") as handle:
        rows = list(csv.DictReader(handle))
    speeds = [float(row["mb_per_s"]) for row in rows]
    ratios = [float(row["ratio"]) for row in rows]
    x_low, x_high = math.log10(min(speeds) * 0.8), math.log10(max(speeds) * 1.25)
    y_low, y_high = math.floor(min(ratios)) - 1, math.ceil(max(ratios)) + 1

    def x(speed):
        return LEFT + (math.log10(speed) - x_low) / (x_high - x_low) * (WIDTH - LEFT - RIGHT)

    def y(ratio):
        return HEIGHT - BOTTOM - (ratio - y_low) / (y_high - y_low) * (HEIGHT - TOP - BOTTOM)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="16">Compression of netchaos records: ratio against speed, '
        f"each codec and level</text>",
        f'<text x="{LEFT}" y="42" fill="#555">{escape(subtitle)}</text>',
    ]
    for decade in range(math.floor(x_low), math.ceil(x_high) + 1):
        for step in (1, 2, 5):
            speed = step * 10**decade
            if x_low <= math.log10(speed) <= x_high:
                out.append(f'<line x1="{x(speed):.1f}" x2="{x(speed):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#eee"/>')
                out.append(f'<text x="{x(speed):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{speed:g}</text>')
    for ratio in range(y_low, y_high + 1, 2):
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(ratio):.1f}" y2="{y(ratio):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y(ratio) + 4:.1f}" text-anchor="end">{ratio}x</text>')
    out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - BOTTOM + 36}" text-anchor="middle">'
               "MB of plain records per second (log scale; wall time for netchaos, one core for the others)</text>")
    out.append(f'<text transform="translate(18 {(TOP + HEIGHT - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">'
               "ratio (plain / stored)</text>")
    codecs = list(dict.fromkeys(row["codec"] for row in rows))
    for index, codec in enumerate(codecs):
        points = [(float(r["mb_per_s"]), float(r["ratio"]), r["level"]) for r in rows if r["codec"] == codec]
        colour = COLOURS.get(codec, "black")
        path = " ".join(f"{x(s):.1f},{y(r):.1f}" for s, r, _ in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for speed, ratio, level in points:
            out.append(f'<circle cx="{x(speed):.1f}" cy="{y(ratio):.1f}" r="3" fill="{colour}"/>')
            out.append(f'<text x="{x(speed) + 5:.1f}" y="{y(ratio) - 5:.1f}" fill="{colour}" font-size="10">{level}</text>')
            if codec == DEFAULT_CODEC and int(level) == DEFAULT_LEVEL:
                out.append(f'<circle cx="{x(speed):.1f}" cy="{y(ratio):.1f}" r="8" fill="none" stroke="black"/>')
                out.append(f'<text x="{x(speed) + 10:.1f}" y="{y(ratio) + 16:.1f}">the default</text>')
        legend_y = HEIGHT - BOTTOM + 60 + index * 18
        out.append(f'<line x1="{LEFT}" x2="{LEFT + 30}" y1="{legend_y - 4}" y2="{legend_y - 4}" stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{LEFT + 38}" y="{legend_y}">{escape(LABELS.get(codec, codec))}</text>')
    out.append("</svg>")
    with open(target, "w") as handle:
        handle.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
