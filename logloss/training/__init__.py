"""One training run behind both faces (``logloss train`` and the ``train`` flow).

- :mod:`.plan`: what a run is asked to do (:class:`TrainPlan`) and the output rule;
- :mod:`.run`: the steps, in order, and :func:`run` calling them all;
- :mod:`.fit`: the fit and its verdict (:func:`not_converged`);
- :mod:`.options`: the run's command-line options, shared by both faces.

The data steps live in :mod:`logloss.loading`, evaluation in :mod:`logloss.evaluation`,
publishing in :mod:`logloss.publishing`. Importing this package imports only the plan (the
output rule, the settings): the heavy steps load with :mod:`.run`.
"""

from __future__ import annotations

from .plan import OutputPathError, OutputRefusedError, TrainPlan, check_outputs

# OutputPathError: the type of every refused output (the storage layer's); a face that
# re-spells a refusal in its own option names raises it (cli/train.py).
__all__ = ["OutputPathError", "OutputRefusedError", "TrainPlan", "check_outputs"]
