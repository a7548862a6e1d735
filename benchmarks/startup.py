"""Command start-up (issue 20: ≤ 0.8 s): what `manage.py` costs before it does anything,
against the floors every Python and every Django process pay, measured alternately in the
same run (medians): the bare interpreter, then Django configured with our settings
(`django.setup()`: every installed app loaded), then our commands — `help`, and
`import_ocsge` refusing a missing file (a file command's whole start: Django, the reading
stack — pyogrio, Arrow, shapely — and the refusal)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

CASES = [
    ("python -c pass (the interpreter)", ["-c", "pass"]),
    (
        # The floor of any of our commands: Django with our settings and installed apps (their
        # models, admin registrations, checks' modules), ending as manage.py ends (frozen GC).
        "django.setup() with our settings",
        [
            "-c",
            "import gc, os, django; "
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'ocsge_web.settings'); "
            "django.setup(); gc.freeze()",
        ],
    ),
    ("manage.py help", ["manage.py", "help"]),
    (
        "manage.py import_ocsge, a missing file refused",
        ["manage.py", "import_ocsge", "/nonexistent.gpkg", "--departement", "99", "--rank", "M1"],
    ),
]
GOAL_S = 0.8


def bench_startup(args, root) -> dict:
    runs = {name: [] for name, _ in CASES}
    for _ in range(max(5, args.repeat)):
        for name, argv in CASES:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, *argv],
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            runs[name].append(time.perf_counter() - start)
    return {
        "runs": {k: [round(t, 3) for t in v] for k, v in runs.items()},
        "median_s": {k: round(statistics.median(v), 3) for k, v in runs.items()},
    }


def render_startup(r) -> str:
    med = r["median_s"]
    floor = med[CASES[1][0]]
    n = len(next(iter(r["runs"].values())))
    lines = [
        "## Command start-up",
        "",
        f"Wall time of a process, from its start to its exit (medians of {n} runs, the cases "
        "in turns).",
        "",
        "| process | median | over `django.setup()` |",
        "| --- | --- | --- |",
    ]
    for name, _ in CASES:
        extra = "—" if name == CASES[0][0] else f"{med[name] - floor:+.3f} s"
        lines.append(f"| {name} | {med[name]:.3f} s | {extra} |")
    worst = max(med[CASES[2][0]], med[CASES[3][0]])
    lines += [
        "",
        f"Slowest command start: **{worst:.2f} s** (goal ≤ {GOAL_S} s). What a command adds "
        "to `django.setup()` is its own imports (a file command: pyogrio without its "
        "pandas/geopandas probe, Arrow, shapely, pyproj); the rest is Django loading our "
        "installed apps, which every command pays.",
    ]
    return "\n".join(lines)
