"""Roads: main roads from the town to every village and through-roads to the border, minor
roads between neighbouring villages, a railway through the town, country lanes cutting
the farmland into blocks."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .canvas import Canvas
from .raster import wiggly_line
from .settlements import Settlement


@dataclass
class Network:
    main: list
    minor: list
    rail: object


def lay_network(canvas: Canvas, settlements: list[Settlement]) -> Network:
    rng, n, res = canvas.rng, canvas.n, canvas.res
    town = settlements[0]
    main, minor = [], []
    for s in settlements[1:]:
        main.append(wiggly_line(rng, town[:2], s[:2], amplitude=200))
    for _ in range(3):
        a = rng.uniform(0, 2 * math.pi)
        end = (town[0] + math.cos(a) * n * res, town[1] + math.sin(a) * n * res)
        main.append(wiggly_line(rng, town[:2], end, amplitude=300))
    for i, s in enumerate(settlements[1:], start=1):
        dists = [
            (math.hypot(s[0] - t[0], s[1] - t[1]), j) for j, t in enumerate(settlements) if j != i
        ]
        dists.sort()
        for _, j in dists[:2]:
            if j > i:
                minor.append(wiggly_line(rng, s[:2], settlements[j][:2], amplitude=250))
    a = rng.uniform(0, math.pi)
    rail = wiggly_line(
        rng,
        (town[0] - math.cos(a) * n * res, town[1] - math.sin(a) * n * res),
        (town[0] + math.cos(a) * n * res, town[1] + math.sin(a) * n * res),
        amplitude=150,
    )
    return Network(main, minor, rail)


def draw_lanes(canvas: Canvas) -> None:
    rng, n, res = canvas.rng, canvas.n, canvas.res
    lanes = []
    for _ in range(int(canvas.size_km * 2.5)):
        a = rng.uniform(0, math.pi)
        cx_, cy_ = canvas.world(*(rng.uniform(0, 1, 2) * n))
        half = rng.uniform(0.3, 0.8) * n * res
        p0 = (cx_ - math.cos(a) * half, cy_ - math.sin(a) * half)
        p1 = (cx_ + math.cos(a) * half, cy_ + math.sin(a) * half)
        lanes.append(wiggly_line(rng, p0, p1, amplitude=half * 0.1))
    canvas.burn([g.buffer(3.5) for g in lanes], 4)
