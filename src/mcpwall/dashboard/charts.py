"""Charts drawn on the server: stacked bars as plain geometry for an SVG template.

Pure arithmetic, no drawing library: each bar is a time bucket, each segment a category of
call, stacked in a fixed order. The template (``_chart.html``) turns the geometry into SVG
with a ``<title>`` and ``role="img"``, and the page shows the same numbers as a table beside
it, so nothing is told by the picture alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 180
LEFT = 44  # room for the axis labels
BOTTOM = 22
TOP = 8
GAP = 2


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bar: what its axis label says and how many calls of each category it holds."""

    label: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    category: str
    count: int
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything the SVG template draws, in its own coordinates (``width`` × ``height``)."""

    title: str
    width: int
    height: int
    segments: tuple[Segment, ...]
    ticks: tuple[Tick, ...]
    labels: tuple[tuple[float, str], ...]  # (x of the bar's middle, its label), thinned out
    baseline: float
    left: int


def stacked_bars(
    title: str,
    buckets: Sequence[Bucket],
    categories: Sequence[str],
    *,
    every_label: int = 1,
) -> Chart:
    """Bars of ``buckets``, each stacked in ``categories`` order; every ``every_label``-th
    bar's label shown under the axis."""
    plot_height = HEIGHT - TOP - BOTTOM
    peak = nice_maximum(max((bucket.total for bucket in buckets), default=0))
    slot = (WIDTH - LEFT) / max(len(buckets), 1)
    segments: list[Segment] = []
    labels: list[tuple[float, str]] = []
    for index, bucket in enumerate(buckets):
        x = LEFT + index * slot + GAP / 2
        y = float(TOP + plot_height)
        for category in categories:
            count = bucket.counts.get(category, 0)
            if count:
                height = plot_height * count / peak
                y -= height
                segments.append(Segment(x, y, slot - GAP, height, category, count, bucket.label))
        if index % every_label == 0:
            labels.append((x + (slot - GAP) / 2, bucket.label))
    ticks = tuple(
        Tick(TOP + plot_height * (1 - fraction), round(peak * fraction))
        for fraction in (0.0, 0.5, 1.0)
    )
    return Chart(
        title, WIDTH, HEIGHT, tuple(segments), ticks, tuple(labels), TOP + plot_height, LEFT
    )


def nice_maximum(value: int) -> int:
    """The smallest of 2, 5, 10, 20, 50, 100… that is at least ``value``: the top of the axis
    (at least 2, so that its half is a whole number)."""
    scale = 1
    while True:
        for mantissa in (2, 5, 10):
            if mantissa * scale >= value:
                return mantissa * scale
        scale *= 10
