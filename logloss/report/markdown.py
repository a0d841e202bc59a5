"""The Markdown body of the Prefect training report (metrics, settings, picture links)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import METRIC_ORDER, TITLES, fmt, ordered_items, setting_items

__all__ = ["markdown_report"]


def _md_cell(v: Any) -> str:
    return fmt(v).replace("|", "\\|").replace("\n", " ")


def markdown_report(
    metrics: Mapping[str, Any], params: Mapping[str, Any], picture_links: Mapping[str, str]
) -> str:
    """Markdown body with the final metrics, the settings and the pictures (as images).

    ``picture_links`` maps a picture name (e.g. ``"roc"``) to a URL or relative path.
    """
    lines = ["## Final metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in ordered_items(metrics, METRIC_ORDER)]
    if not metrics:
        lines.append("| (none) | |")
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {_md_cell(k)} | {_md_cell(v)} |" for k, v in setting_items(params)]
    if not params:
        lines.append("| (none) | |")
    if picture_links:
        lines += ["", "## Pictures", ""]
        for name, link in picture_links.items():
            title = TITLES.get(name, name)
            lines += [f"### {title}", "", f"![{title}]({link})", ""]
    return "\n".join(lines).rstrip() + "\n"
