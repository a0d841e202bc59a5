"""Training windows over date-partitioned data and timestamp columns (issue 21, item 1) and
the time-based hold-out: what is selected, and that what is outside is never read."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logloss.cli import main
from logloss.data import DataError, read_parquet
from logloss.windows import Window, WindowError, parse_as_of, parse_duration

DAY0 = dt.date(2024, 3, 1)


def _frame(rng: np.random.Generator, n: int, day: dt.date) -> dict[str, np.ndarray]:
    X = rng.normal(size=(n, 3))
    z = X @ np.array([1.0, -2.0, 0.5]) + 0.25
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}


def write_days(root: Path, days: int, n: int = 200, seed: int = 0) -> dict[dt.date, int]:
    """``days`` partitions ``date=YYYY-MM-DD`` of ``n`` rows each (two files a day)."""
    rng = np.random.default_rng(seed)
    rows = {}
    for d in range(days):
        day = DAY0 + dt.timedelta(days=d)
        part = root / f"date={day.isoformat()}"
        part.mkdir(parents=True)
        for k in range(2):
            pq.write_table(pa.table(_frame(rng, n // 2, day)), part / f"part-{k}.parquet")
        rows[day] = n
    return rows


def write_stamped(path: Path, days: int, n: int = 100, seed: int = 1) -> pa.Table:
    """One file, one row group a day (rows in time order), column ``ts`` (UTC)."""
    rng = np.random.default_rng(seed)
    tables = []
    for d in range(days):
        day = DAY0 + dt.timedelta(days=d)
        cols = _frame(rng, n, day)
        start = np.datetime64(day.isoformat(), "us")
        offsets = np.sort(rng.integers(0, 86_400_000_000, n)).astype("timedelta64[us]")
        t = pa.table({**cols, "ts": pa.array(start + offsets, pa.timestamp("us", tz="UTC"))})
        tables.append(t)
    table = pa.concat_tables(tables)
    pq.write_table(table, path, row_group_size=n)
    return table


# ------------------------------------------------------------------ parsing
def test_durations_and_as_of_times_parse_and_bad_ones_name_the_value():
    assert parse_duration("30d") == dt.timedelta(days=30)
    assert parse_duration("12h") == dt.timedelta(hours=12)
    assert parse_duration("2w") == dt.timedelta(weeks=2)
    assert parse_as_of("2024-03-05") == dt.datetime(2024, 3, 5, tzinfo=dt.timezone.utc)
    assert parse_as_of("2024-03-05T02:00:00+02:00") == dt.datetime(
        2024, 3, 5, tzinfo=dt.timezone.utc
    )
    with pytest.raises(WindowError, match="'30 days'"):
        parse_duration("30 days")
    with pytest.raises(WindowError, match="'yesterday'"):
        parse_as_of("yesterday")
    w = Window.of("7d", "2024-03-08")
    train, held = w.split("1d")
    assert (train.start, train.end, held.end) == (w.start, held.start, w.end)
    with pytest.raises(WindowError, match="not shorter"):
        w.split("7d")


# --------------------------------------------------------------- partitions
def test_a_partition_window_selects_whole_days_and_never_opens_files_outside(tmp_path):
    write_days(tmp_path / "data", 10)
    # a file that is not Parquet at all, in a partition outside the window
    (tmp_path / "data" / "date=2024-03-01" / "part-9.parquet").write_bytes(b"not parquet")
    ds = read_parquet(
        tmp_path / "data", "y", features=["a", "b", "c"], window=Window.of("3d", "2024-03-08")
    )
    days = {Path(b.path).parent.name for b in ds.blocks}
    assert days == {"date=2024-03-05", "date=2024-03-06", "date=2024-03-07"}
    assert ds.n_rows == 600
    # a run at 02:00 takes the three days over by then, not the unfinished one
    late = read_parquet(tmp_path / "data", "y", window=Window.of("3d", "2024-03-08T02:00"))
    assert {b.path for b in late.blocks} == {b.path for b in ds.blocks}
    # the whole data: the corrupt file is read and named
    with pytest.raises(DataError, match="part-9.parquet"):
        read_parquet(tmp_path / "data", "y", features=["a", "b", "c"])


def test_an_empty_window_is_one_line_naming_the_window_and_the_data(tmp_path, capsys):
    write_days(tmp_path / "data", 3)
    with pytest.raises(SystemExit) as info:
        main(
            [
                "train",
                str(tmp_path / "data"),
                "--label",
                "y",
                "--out",
                str(tmp_path / "m"),
                "--window",
                "2d",
                "--as-of",
                "2024-04-01",
                "--quiet",
            ]
        )
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "window 2d [2024-03-30T00:00:00Z, 2024-04-01T00:00:00Z)" in line
    assert str(tmp_path / "data") in line and "2024-03-01 to 2024-03-03" in line
    assert not (tmp_path / "m").exists()


def test_a_partition_window_needs_date_partitions(tmp_path):
    write_stamped(tmp_path / "one.parquet", 2)
    with pytest.raises(DataError, match="no date=YYYY-MM-DD partition"):
        read_parquet(tmp_path / "one.parquet", "y", window=Window.of("1d", "2024-03-02"))


# ---------------------------------------------------------- timestamp column
def test_a_time_column_window_reads_only_row_groups_in_it_and_filters_straddling_rows(
    tmp_path,
):
    path = tmp_path / "t.parquet"
    table = write_stamped(path, 6)
    # row group 0 (day 1) gets a NaN feature: reading it would fail the block
    bad = table.slice(0, 100).set_column(0, "a", pa.array(np.full(100, np.nan)))
    table = pa.concat_tables([bad, table.slice(100)])
    pq.write_table(table, path, row_group_size=100)
    cut = "2024-03-06T12:00:00Z"
    ds = read_parquet(path, "y", features=["a", "b", "c"], window=Window.of("3d", cut, "ts"))
    ts = table["ts"].to_numpy()
    lo, hi = np.datetime64("2024-03-03T12:00:00", "us"), np.datetime64(cut[:-1], "us")
    inside = (ts >= lo) & (ts < hi)
    assert ds.n_rows == int(inside.sum())
    assert {g for b in ds.blocks for g in b.row_groups} == {2, 3, 4, 5}  # day 1 and 2 unread
    X = ds.X.compute()
    want = np.column_stack([table[c].to_numpy()[inside] for c in "abc"])
    np.testing.assert_array_equal(X, want)
    with pytest.raises(DataError, match="got nan"):  # the whole file: row group 0 is read
        read_parquet(path, "y", features=["a", "b", "c"]).X.compute()


def test_an_empty_time_window_names_the_column_range(tmp_path):
    write_stamped(tmp_path / "t.parquet", 2)
    with pytest.raises(DataError, match=r"selects no rows of .*'ts' values run from 2024-03-01"):
        read_parquet(tmp_path / "t.parquet", "y", window=Window.of("1d", "2025-01-01", "ts"))
    with pytest.raises(DataError, match="time column 'a' .* is double, not a timestamp"):
        read_parquet(tmp_path / "t.parquet", "y", window=Window.of("1d", "2024-03-02", "a"))


# ------------------------------------------------------------ time hold-out
def test_a_time_hold_out_is_exactly_the_newest_day_of_the_window(tmp_path, capsys):
    write_days(tmp_path / "data", 8)
    args = ["--features", "a,b,c", "--window", "5d", "--as-of", "2024-03-08", "--holdout", "1d"]
    code = main(
        ["train", str(tmp_path / "data"), "--label", "y", "--out", str(tmp_path / "m"), "--json"]
        + args
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 800  # 03-03 .. 03-06
    assert summary["metrics"]["log_loss"] > 0  # evaluated on the hold-out
    from logloss.training import TrainPlan
    from logloss.training import run as steps

    plan = TrainPlan.create(
        {},
        data=str(tmp_path / "data"),
        label="y",
        features=["a", "b", "c"],
        out="x",
        window="5d",
        as_of="2024-03-08",
        holdout="1d",
    )
    split = steps.hold_out(plan, steps.persist(steps.open_dataset(plan)))
    assert split.valid is not None and split.valid.n_rows == 200 and split.train.n_rows == 800
    assert {Path(b.path).parent.name for b in split.valid.blocks} == {"date=2024-03-07"}
    assert {Path(b.path).parent.name for b in split.train.blocks} == {
        f"date=2024-03-0{d}" for d in (3, 4, 5, 6)
    }
    assert "newest 1d" in (split.note or "")


def test_a_time_hold_out_over_a_time_column_is_the_rows_of_the_newest_day(tmp_path):
    from logloss.training import TrainPlan
    from logloss.training import run as steps

    table = write_stamped(tmp_path / "t.parquet", 6)
    plan = TrainPlan.create(
        {},
        data=str(tmp_path / "t.parquet"),
        label="y",
        features=["a", "b", "c"],
        out="x",
        window="4d",
        as_of="2024-03-06T12:00:00",
        time_column="ts",
        holdout="1d",
    )
    split = steps.hold_out(plan, steps.persist(steps.open_dataset(plan)))
    ts = table["ts"].to_numpy()
    cut, end = np.datetime64("2024-03-05T12:00:00", "us"), np.datetime64("2024-03-06T12:00", "us")
    held = (ts >= cut) & (ts < end)
    kept = (ts >= np.datetime64("2024-03-02T12:00", "us")) & (ts < cut)
    assert split.valid is not None
    np.testing.assert_array_equal(split.valid.X.compute()[:, 0], table["a"].to_numpy()[held])
    np.testing.assert_array_equal(split.train.X.compute()[:, 0], table["a"].to_numpy()[kept])


def test_a_time_window_and_dropped_rows_combine(tmp_path):
    path = tmp_path / "t.parquet"
    table = write_stamped(path, 3)
    a = table["a"].to_numpy().copy()
    a[[5, 150, 250]] = np.nan  # day 1 (outside), day 2 (straddling: inside), day 3
    table = table.set_column(0, "a", pa.array(a))
    pq.write_table(table, path, row_group_size=100)
    window = Window.of("1d", "2024-03-03T12:00:00", "ts")  # straddles days 2 and 3
    ds = read_parquet(path, "y", features=["a", "b", "c"], window=window, missing="drop")
    ts = table["ts"].to_numpy()
    inside = (ts >= np.datetime64("2024-03-02T12:00", "us")) & (
        ts < np.datetime64("2024-03-03T12:00", "us")
    )
    want = a[inside & ~np.isnan(a)]
    assert ds.n_rows == want.size and {g for b in ds.blocks for g in b.row_groups} == {1, 2}
    np.testing.assert_array_equal(ds.X.compute()[:, 0], want)


def test_a_partition_window_at_an_fsspec_url(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"/w{np.random.default_rng().integers(1 << 40):x}"
    write_days(tmp_path / "data", 4)
    fs.put(str(tmp_path / "data"), root, recursive=True)
    try:
        fs.pipe_file(f"{root}/date=2024-03-01/part-9.parquet", b"not parquet")
        ds = read_parquet(
            f"memory://{root}", "y", features=["a"], window=Window.of("2d", "2024-03-05")
        )
        assert ds.n_rows == 400
        assert {b.path.split("/")[-2] for b in ds.blocks} == {"date=2024-03-03", "date=2024-03-04"}
    finally:
        fs.rm(root, recursive=True)


def test_a_time_hold_out_drops_invalid_rows_as_the_training_rows_do(tmp_path):
    from logloss.training import TrainPlan
    from logloss.training import run as steps

    write_days(tmp_path / "data", 3)
    newest = tmp_path / "data" / "date=2024-03-03" / "part-0.parquet"
    table = pq.read_table(newest)
    a = table["a"].to_numpy().copy()
    a[7] = np.nan
    pq.write_table(table.set_column(0, "a", pa.array(a)), newest)
    plan = TrainPlan.create(
        {"missing": "drop"},
        data=str(tmp_path / "data"),
        label="y",
        features=["a", "b", "c"],
        out="x",
        window="3d",
        as_of="2024-03-04",
        holdout="1d",
    )
    split = steps.hold_out(plan, steps.persist(steps.open_dataset(plan)))
    assert split.valid is not None and split.valid.n_rows == 199 and split.train.n_rows == 400


# ------------------------------------------------------------ the train flow
@pytest.mark.prefect
def test_the_flow_windows_end_at_the_runs_scheduled_start_by_default(prefect_api, tmp_path):
    from flows.train import train
    from logloss.storage import describe_versions

    today = dt.datetime.now(dt.timezone.utc).date()
    rng = np.random.default_rng(3)
    for d in range(-5, 2):
        day = today + dt.timedelta(days=d)
        part = tmp_path / "data" / f"date={day.isoformat()}"
        part.mkdir(parents=True)
        pq.write_table(pa.table(_frame(rng, 100, day)), part / "part-0.parquet")
    state = train(
        data=str(tmp_path / "data"),
        label="y",
        features=["a", "b", "c"],
        model_dir=str(tmp_path / "models"),
        name="w",
        window="3d",
        holdout="1d",
        report=False,
        return_state=True,
    )
    assert state.is_completed()
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return await client.read_flow_run(state.state_details.flow_run_id)

    import asyncio

    run = asyncio.run(read())
    (version,) = describe_versions(tmp_path / "models" / "w")
    window = version["window"]
    as_of = parse_as_of(window["as_of"])
    assert abs((as_of - run.expected_start_time).total_seconds()) < 1
    start = as_of - dt.timedelta(days=3)
    wanted = [
        (today + dt.timedelta(days=d)).isoformat()
        for d in range(-5, 2)
        if start < parse_as_of(today + dt.timedelta(days=d + 1)) <= as_of  # days over by as_of
    ]
    assert window["partitions"] + window["holdout_partitions"] == wanted
    assert len(window["holdout_partitions"]) == 1 and version["latest"]
