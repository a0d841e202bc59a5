"""What the commands show on a terminal: live training progress and result tables.

``rich`` is imported only when something is shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any


class Progress:
    """Live training progress on a terminal; one line per few seconds otherwise."""

    def __init__(self, enabled: bool, max_iter: int) -> None:
        self.enabled = enabled
        self.max_iter = max_iter
        self.t0 = time.perf_counter()
        self._last_print = 0.0
        self._live: Any = None
        self._tty = sys.stderr.isatty()

    def __enter__(self) -> Progress:
        return self  # the live table starts with the first iteration (see _start)

    def _start(self) -> None:
        """The live table, from the first iteration on: the phases before it (reading,
        loading rows, updated in place) print as plain lines, not through the live display."""
        from rich.console import Console
        from rich.live import Live

        self.t0 = time.perf_counter()
        self._live = Live(self._render(None), console=Console(stderr=True), refresh_per_second=8)
        self._live.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def _render(self, row: dict[str, float] | None) -> Any:
        from rich.table import Table

        table = Table(title="training", show_header=True, header_style="bold")
        for col in ("iteration", "loss", "gradient norm", "elapsed"):
            table.add_column(col, justify="right")
        if row is not None:
            table.add_row(
                f"{row['iteration']}/{self.max_iter}",
                f"{row['loss']:.10g}",
                f"{row['grad_norm']:.3e}",
                f"{time.perf_counter() - self.t0:.1f} s",
            )
        return table

    def __call__(self, state: Any) -> None:
        if not self.enabled or not state.history:
            return
        row = state.history[-1]
        if self._live is None and self._tty:
            self._start()
        if self._live is not None:
            self._live.update(self._render(row))
            return
        now = time.perf_counter()
        if now - self._last_print >= 2.0 or row["iteration"] == 1:
            self._last_print = now
            print(
                f"iteration {row['iteration']}/{self.max_iter}  loss {row['loss']:.10g}  "
                f"|grad| {row['grad_norm']:.3e}  elapsed {now - self.t0:.1f} s",
                file=sys.stderr,
                flush=True,
            )


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (then tables are drawn; otherwise they are plain TSV)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def plain(v: Any) -> str:
    """A value in full for plain output: floats as their shortest exact repr (``nan``,
    ``inf``), None as empty, anything else as ``str``."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(float(v))  # float(): NumPy 2 reprs np.float64 as "np.float64(...)"
    return str(v)


def _short(v: Any, digits: int) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _tsv(title: str, header: Sequence[str] | None, rows: Sequence[Sequence[Any]]) -> None:
    """``# title``, then tab-separated rows with full values (quoted only where a value
    holds a tab, a quote or a newline)."""
    import csv

    print(f"# {title}")
    writer = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows([[plain(v) for v in row] for row in rows])
    sys.stdout.flush()


def print_table(title: str, rows: Sequence[tuple[str, Any]]) -> None:
    """A two-column table (name, value) on stdout. On a terminal a drawn table, floats to 6
    significant digits and nothing cut (long values fold onto the next line); otherwise
    (a pipe, a file) ``# title`` and one ``name<TAB>value`` line per row with every value
    whole: redirected output holds the full numbers and names."""
    if not stdout_is_terminal():
        _tsv(title, None, rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("", style="bold", overflow="fold")
    table.add_column("", justify="right", overflow="fold")
    for k, v in rows:
        table.add_row(k, _short(v, 6))
    Console().print(table)


def print_grid(
    title: str, header: Sequence[str], rows: Sequence[Sequence[Any]], *, digits: int = 4
) -> None:
    """A table with a header row on stdout: drawn on a terminal (floats to ``digits``
    significant digits; names and headers fold onto more lines, numbers are never broken),
    else ``# title``, the header and the rows as TSV with full values. A table that does
    not fit the terminal's width even so is printed as that TSV too: nothing is cut."""
    if not stdout_is_terminal():
        _tsv(title, header, rows)
        return
    from rich.console import Console
    from rich.table import Table

    cells = [[_short(v, digits) for v in row] for row in rows]
    table = Table(
        title=title,
        box=None,
        header_style="bold underline",
        collapse_padding=True,
        pad_edge=False,
    )
    need = len(header) - 1  # one space between columns
    for j, name in enumerate(header):
        numbers = all(isinstance(r[j], int | float) for r in rows)
        widest = max((len(r[j]) for r in cells), default=0)
        least = widest if numbers else min(widest, 8)
        need += max(least, 1)
        table.add_column(
            name,
            style="bold" if j == 0 else None,
            justify="left" if j == 0 else "right",
            overflow="fold",
            min_width=least,
        )
    for row in cells:
        table.add_row(*row)
    console = Console()
    if need > console.width:
        _tsv(title, header, rows)
        return
    console.print(table)


class Phases:
    """One stderr line per phase of a command, with the seconds since it started:
    ``[  0.4s] reading data/x.parquet: 3 files, 1,000,000 rows``. Silent when ``show`` is
    False (``--quiet``, ``--json``).

    :meth:`rows` gives a ``progress(rows_done)`` callback for a phase that goes through the
    data: on a terminal one line updated in place, otherwise a plain line every few seconds;
    :meth:`end_rows` closes it with the phase's row count and seconds."""

    #: seconds between two plain progress lines (not a terminal)
    PLAIN_EVERY = 5.0
    #: seconds between two updates of the line on a terminal
    TTY_EVERY = 0.1

    def __init__(self, show: bool) -> None:
        self.show = show
        self.t0 = time.perf_counter()
        self._tty = sys.stderr.isatty()
        self._open_line = False
        self._rows: tuple[str, int, float] | None = None
        self._last = 0.0

    def _stamp(self) -> str:
        return f"[{time.perf_counter() - self.t0:6.1f}s]"

    def _close_line(self) -> None:
        if self._open_line:
            sys.stderr.write("\n")
            self._open_line = False

    def __call__(self, message: str) -> None:
        if self.show:
            self._close_line()
            print(f"{self._stamp()} {message}", file=sys.stderr, flush=True)

    def rows(self, what: str, total: int) -> Callable[[int], None]:
        """A ``progress(rows_done)`` callback for a phase over ``total`` rows (``what``:
        e.g. "reading")."""
        self._rows = (what, total, time.perf_counter())
        self._last = 0.0
        if self.show:
            self.progress(0)
        return self.progress

    def progress(self, done: int) -> None:
        """Rows done so far in the current row phase (see :meth:`rows`)."""
        if not self.show or self._rows is None:
            return
        what, total, _start = self._rows
        now = time.perf_counter()
        every = self.TTY_EVERY if self._tty else self.PLAIN_EVERY
        if done and done < total and now - self._last < every:
            return
        if not self._tty and (done == 0 or done >= total):
            return  # plain output: the phase line and the closing line say these
        self._last = now
        pct = 100.0 * done / total if total else 100.0
        line = f"{self._stamp()} {what} {done:,} / {total:,} rows ({pct:.0f}%)"
        if self._tty:
            sys.stderr.write("\r\x1b[K" + line)
            self._open_line = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def end_rows(self, message: str | None = None) -> None:
        """Close the row-progress phase: ``{what} N rows in S s`` (or ``message``)."""
        if self._rows is None:
            return
        what, total, start = self._rows
        self._rows = None
        if not self.show:
            return
        if self._tty:
            sys.stderr.write("\r\x1b[K")
            self._open_line = False
        seconds = time.perf_counter() - start
        shown = message or f"{what} {total:,} rows"
        print(f"{self._stamp()} {shown} in {seconds:.1f} s", file=sys.stderr, flush=True)
