"""What went wrong and what to change, as values: the library names settings, the faces
(the CLI, the flows) name them as their users type them.

Conventions
-----------
- A :class:`Remedy` names one setting by its name in :mod:`logloss.settings` (``max_iter``,
  ``standardize``) or a run option (``checkpoint_restart``, ``allow_unconverged``, ``out``),
  with the value to set when that is known (``True``) and words around it.
- A :class:`Problem` is what went wrong (``what``: "not converged", "output refused",
  "checkpoint mismatch"), why, and its remedies. :class:`ProblemError` carries one.
- :meth:`Problem.render` takes a function naming a setting (``name(setting, value)``); the
  default, :func:`python_name`, names it as a Python keyword (``standardize=True``): the
  estimator's and the flows' spelling. The CLI passes
  :func:`logloss.settings.option_name` (``--standardize``).
- The standard library only: every layer may import this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Namer", "Problem", "ProblemError", "Remedy", "python_name"]

#: ``name(setting, value)``: how a face spells a setting (and the value to give it).
Namer = Callable[[str, Any], str]


def python_name(setting: str, value: Any = None) -> str:
    """``max_iter``, or ``standardize=True`` when the value to set is known."""
    return setting if value is None else f"{setting}={value!r}"


@dataclass(frozen=True)
class Remedy:
    """One change that may fix a problem: ``f"{action} {setting}{detail}"`` as a face
    names the setting (``"raise max_iter (now 100)"``, ``"fit with --standardize"``)."""

    setting: str
    action: str
    value: Any = None
    detail: str = ""

    def render(self, name: Namer = python_name) -> str:
        return f"{self.action} {name(self.setting, self.value)}{self.detail}"


@dataclass(frozen=True)
class Problem:
    """What went wrong (``what``), why, and what to change (``remedies``, alternatives)."""

    what: str
    why: str
    remedies: tuple[Remedy, ...] = ()
    #: settings the ``why`` names: its ``{0}``, ``{1}`` ... as the face spells them
    names: tuple[str, ...] = ()

    def reason(self, name: Namer = python_name) -> str:
        """``why`` with the settings it names spelled by ``name``."""
        if not self.names:
            return self.why
        return self.why.format(*(name(n, None) for n in self.names))

    def hint(self, name: Namer = python_name) -> str:
        """The remedies in one sentence ("" without any)."""
        return "; or ".join(r.render(name) for r in self.remedies)

    def render(self, name: Namer = python_name) -> str:
        """One line: why, then the remedies."""
        hint, why = self.hint(name), self.reason(name)
        return f"{why}; {hint}" if hint else why


class ProblemError(ValueError):
    """An error whose :class:`Problem` a face renders in its own words; ``str()`` is the
    Python spelling (the library's)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render())
        self.problem = problem
