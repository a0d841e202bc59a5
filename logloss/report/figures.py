"""Drawing helpers of the report's pictures: a figure on matplotlib's Agg canvas, written
to PNG atomically, and a panel (or a whole picture) that says why there is nothing to draw.

matplotlib is imported when the first picture is drawn, not when this module is imported,
so ``import logloss.report`` stays light (a CLI command that only writes the page, a Dask
worker that unpickles a function of this package). Pictures are drawn on
``matplotlib.figure.Figure`` objects with the Agg canvas, never through ``pyplot``: no
display, no global figure registry, safe from worker threads. Every file is written
atomically (:func:`logloss.storage.atomic_write_bytes`).
"""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..storage import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Array", "PathLike", "figure", "message", "message_picture", "save"]

DPI = 110
Array = NDArray[np.float64]
PathLike = str | os.PathLike[str]


def figure(width: float = 6.4, height: float = 4.8) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save(fig: Figure, path: PathLike) -> Path:
    """Render ``fig`` to PNG atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # constrained layout: no second (tight) draw
    return atomic_write_bytes(path, buf.getvalue())


def message(ax: Axes, text: str) -> None:
    """Write ``text`` in the middle of an empty panel (used when there is nothing to draw)."""
    ax.text(0.5, 0.5, textwrap.fill(text, 48), ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def message_picture(text: str, title: str, path: PathLike) -> Path:
    fig = figure(5.2, 3.0)
    ax = fig.subplots()
    ax.set_title(title)
    message(ax, text)
    return save(fig, path)
