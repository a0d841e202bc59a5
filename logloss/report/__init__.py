"""Training report: pictures (PNG, matplotlib Agg), an HTML page and a Markdown body.

Modules
-------
- :mod:`.common`: picture names and titles, table-cell formatting (page and Markdown).
- :mod:`.convexity`: the log loss and MSE∘σ along a line in weight space (pure NumPy).
- :mod:`.coefficients`: the coefficient rows (both units, 95% intervals, sorted by |z|).
- :mod:`.plots`: every picture at once (:func:`make_pictures`) and each by name, drawn by
  :mod:`.fit_plots` (loss curve, coefficients, cross-validation), :mod:`.evaluation_plots`
  (ROC, precision–recall, calibration or why it is not drawn, confusion, histograms) and
  :mod:`.loss_plots` (the loss's branches, convexity) on :mod:`.figures` (Agg figures,
  atomic PNGs; matplotlib imported only when a picture is drawn).
- :mod:`.assets`: metrics.json, report.json and the pictures from the data (few passes,
  none gathering rows).
- :mod:`.page`: the self-contained HTML page about a saved model (Jinja2 template
  ``templates/report.html.j2``, autoescaped).
- :mod:`.markdown`: the Markdown body of the Prefect training report.

``import logloss.report`` does not import matplotlib.

Conventions
-----------
- Every file is written atomically: to a temporary name in the target directory, then
  ``os.replace``-d onto the final name, so a reader never sees half a file.
- ``history`` is a sequence of mappings with keys ``iteration``, ``loss`` (the penalised
  objective), ``log_loss`` (the training log loss), ``grad_norm``, ``step``, ``seconds``
  (one per solver iteration); missing keys are tolerated.
- ``coef`` has one entry per feature (shape (p,) or (1, p)); ``intercept`` is a scalar
  (or a length-1 array). The parameter vector along a line is ``(coef, intercept)``.
- ``y_true``/``proba`` handed to :func:`make_pictures` may be NumPy or Dask arrays; the
  curves are computed with :func:`logloss.metrics.report_curves` (one distributed pass to
  a state of bounded size).
  ``X_sample`` and ``y_sample`` are a small in-memory NumPy sample used for the convexity
  picture.
- The log loss is never written out here: per row from margins it is
  :func:`logloss.loss.row_loss`, from probabilities :func:`logloss.metrics.row_log_loss`.
"""

from __future__ import annotations

from .coefficients import coefficient_rows
from .common import PICTURES
from .convexity import losses_along_line
from .markdown import markdown_report
from .page import GENERATOR, SECTIONS, write_html_report
from .plots import (
    make_pictures,
    plot_calibration,
    plot_coefficients,
    plot_confusion,
    plot_convexity,
    plot_cv,
    plot_logloss_branches,
    plot_loss_curve,
    plot_precision_recall,
    plot_roc,
    plot_score_histograms,
)

__all__ = [
    "GENERATOR",
    "PICTURES",
    "SECTIONS",
    "coefficient_rows",
    "losses_along_line",
    "make_pictures",
    "markdown_report",
    "plot_calibration",
    "plot_coefficients",
    "plot_confusion",
    "plot_convexity",
    "plot_cv",
    "plot_logloss_branches",
    "plot_loss_curve",
    "plot_precision_recall",
    "plot_roc",
    "plot_score_histograms",
    "write_html_report",
]
