"""Writes examples/data/weather.csv: a small synthetic hourly weather series (no
download, standard library only) for examples/csv_forecast.toml.

    python3 examples/data/make_weather_csv.py

Columns: `time` (hours, not a feature), `temp` (a daily cycle, a slow drift and
noise), `humidity` (moves against the temperature), `pressure` (a slow random walk
that nudges the temperature). Seeded, so the file is the same on every run.
"""

import math
import os
import random

rng = random.Random(7)
rows = 2400
pressure = 1013.0
out = ["time,temp,humidity,pressure"]
for t in range(rows):
    pressure += rng.gauss(0, 0.4) - 0.01 * (pressure - 1013.0)
    day = math.sin(2 * math.pi * t / 24)
    season = 4 * math.sin(2 * math.pi * t / 1200)
    temp = 12 + 6 * day + season + 0.15 * (pressure - 1013.0) + rng.gauss(0, 0.6)
    humidity = 70 - 2.5 * (temp - 12) + rng.gauss(0, 2.0)
    out.append(f"{t},{temp:.2f},{humidity:.1f},{pressure:.1f}")
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weather.csv")
with open(path, "w") as f:
    f.write("\n".join(out) + "\n")
print(f"{rows} rows -> {path}")
