"""The documentation against the code: README.md and docs/*.md name only what exists.

- every ``logloss/...``, ``flows/...``, ``tests/...``, ``benchmarks/...`` or ``ci/...`` file
  path they name exists, and every ``logloss.x.y`` / ``flows.x`` name imports (a module, or an
  attribute of one);
- every option documented for a command in docs/cli.md is accepted by that command's parser
  (built in-process from :mod:`logloss.cli`), and every option a parser has is documented;
  every ``logloss ...`` command line in a code block parses;
- the layer map of docs/development.md is the ``layers`` contract of pyproject.toml, its list
  of the modules that import Dask is the real one, and its module tree names every module;
- relative links lead to files and headings that exist;
- README.md is at most 12,000 characters and holds the two commands for a fresh machine,
  and .ci/run runs the same test command.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

from logloss.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
TRAIN_COMMAND = "python -m pip install -e . && python -m flows.train"
TEST_COMMAND = 'python -m pip install -e ".[test]" && python -m pytest'
# Pages another branch of the work writes; linked already. Drop a name once the page exists.
PENDING_PAGES: set[str] = set()

PATH_RE = re.compile(
    r"(?<![\w./:-])((?:logloss|flows|tests|benchmarks|ci)/[\w./-]*?"
    r"(?:\.py|\.sh|\.md|\.j2|/))(?![\w/-])"
)
MODULE_RE = re.compile(r"(?<![\w./:-])((?:logloss|flows)(?:\.[A-Za-z_]\w*)+)(?![\w-])")
FILE_SUFFIXES = {"md", "py", "json", "html", "png", "npy", "parquet", "onnx", "toml", "yml"}
OPTION_RE = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
FENCE_RE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")


def rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def between(page: Path, marker: str) -> str:
    m = re.search(rf"<!-- {marker}: begin -->\n(.*?)<!-- {marker}: end -->", text(page), re.S)
    assert m, f"{rel(page)} has no <!-- {marker}: begin/end --> block"
    return m.group(1)


def parsers() -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for o in parser._option_string_actions if o.startswith("--")} - {"--help"}


# ------------------------------------------------------------------ paths and modules
@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_named_paths_exist(page: Path) -> None:
    missing = sorted({p for p in PATH_RE.findall(text(page)) if not (ROOT / p).exists()})
    assert not missing, f"{rel(page)} names files that do not exist: {missing}"


def _source(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _top_level_names(path: Path) -> set[str]:
    """Names a module defines at its top level, and those of its ``__all__``."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
            if node.value is not None and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in targets
            ):
                try:
                    names |= set(ast.literal_eval(node.value))
                except ValueError:  # a computed __all__ (a package's lazy names): import it
                    parts = path.relative_to(ROOT).with_suffix("").parts
                    module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                    names |= set(importlib.import_module(module).__all__)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _resolves(name: str) -> bool:
    """A module (found by its file: importing costs seconds), or a name a module defines
    (``logloss.export.to_onnx``, ``logloss.read_parquet``, read from its source)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        path = _source(parts[:i])
        if path is None:
            continue
        if i == len(parts):
            return True
        if parts[i] not in _top_level_names(path):
            return False
        if i + 1 == len(parts):
            return True
        obj = importlib.import_module(".".join(parts[:i]))  # deeper: a class's attribute
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_named_modules_exist(page: Path) -> None:
    names = {n for n in MODULE_RE.findall(text(page)) if n.rsplit(".", 1)[1] not in FILE_SUFFIXES}
    missing = sorted(n for n in names if not _resolves(n))
    assert not missing, f"{rel(page)} names modules or attributes that do not exist: {missing}"


# ------------------------------------------------------------------ the command line
def cli_sections() -> dict[str, str]:
    """docs/cli.md's section of each command: from '## `logloss CMD`' to the next '## '."""
    parts = re.split(r"^## ", text(ROOT / "docs" / "cli.md"), flags=re.M)
    found = {}
    for part in parts[1:]:
        m = re.match(r"`logloss (\w+)`", part)
        if m:
            found[m.group(1)] = part
    return found


def test_every_command_has_a_section() -> None:
    assert set(cli_sections()) == set(parsers()), "docs/cli.md: one '## `logloss CMD`' each"


@pytest.mark.parametrize("command", sorted(parsers()))
def test_cli_options_documented_and_real(command: str) -> None:
    section = FENCE_RE.sub("", cli_sections().get(command, ""))  # code blocks: parsed below
    documented = set(OPTION_RE.findall(section)) - {"--help"}
    real = options(parsers()[command])
    assert not documented - real, (
        f"docs/cli.md documents options that `logloss {command}` does not take: "
        f"{sorted(documented - real)}"
    )
    assert not real - documented, (
        f"`logloss {command}` options missing from its section of docs/cli.md: "
        f"{sorted(real - documented)}"
    )


def command_lines() -> Iterator[tuple[str, str]]:
    """Every ``logloss ...`` line of a code block, continuation lines joined."""
    for page in PAGES:
        for block in FENCE_RE.findall(text(page)):
            for line in block.replace("\\\n", " ").splitlines():
                if line.startswith("logloss "):
                    yield rel(page), line


@pytest.mark.parametrize("where,line", list(command_lines()))
def test_documented_command_lines_parse(where: str, line: str) -> None:
    argv = shlex.split(line, comments=True)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse's usage error (status 2)
        pytest.fail(f"{where}: `{line}` does not parse (exit {exc.code})")


def test_train_flow_options_exist(capsys: pytest.CaptureFixture[str]) -> None:
    """The options of ``python -m flows.train`` named in its code lines and in docs/flows.md's
    section on the train flow are those its --help lists."""
    from flows.train import main

    with pytest.raises(SystemExit):
        main(["--help"])
    real = set(OPTION_RE.findall(capsys.readouterr().out))
    section = text(ROOT / "docs" / "flows.md").split("## The train flow", 1)[1].split("\n## ")[0]
    documented = set(OPTION_RE.findall(FENCE_RE.sub("", section)))
    for page in PAGES:
        for block in FENCE_RE.findall(text(page)):
            for line in block.replace("\\\n", " ").splitlines():
                if line.startswith("python -m flows.train"):
                    documented |= set(OPTION_RE.findall(line.split("#")[0]))
    assert not documented - real, f"python -m flows.train takes no {sorted(documented - real)}"


# ------------------------------------------------------------------ the map of the code
def contract(contract_id: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (found,) = (c for c in config["contracts"] if c.get("id") == contract_id)
    return found


def _layer(spec: str) -> str:
    return " | ".join(p.strip() for p in spec.split("|"))


def test_layer_map_is_the_contract() -> None:
    block = between(ROOT / "docs" / "development.md", "layers").strip().strip("`").strip()
    documented = [_layer(re.split(r"\s{2,}", line.strip())[0]) for line in block.splitlines()]
    declared = [_layer(layer) for layer in contract("layers")["layers"]]
    assert documented == declared, (
        "docs/development.md's layer map differs from the 'layers' contract of pyproject.toml; "
        "the contract's layers, top to bottom:\n" + "\n".join(declared)
    )


def test_known_breaks_are_listed() -> None:
    """Every import a contract ignores is named (by its importer) among the known breaks."""
    page = text(ROOT / "docs" / "development.md")
    breaks = page.split("Known breaks", 1)[1].split("\n\n", 2)[1]
    named = set(re.findall(r"`([\w.]+)`", breaks))
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    ignored = {
        i.split("->")[0].strip() for c in config["contracts"] for i in c.get("ignore_imports", [])
    }
    assert not ignored - named, (
        f"docs/development.md's known breaks do not name {sorted(ignored - named)}, whose "
        "imports pyproject.toml's contracts ignore"
    )


def test_dask_users_are_listed() -> None:
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("logloss", include_external_packages=True)
    real = set().union(
        *(graph.find_modules_that_directly_import(p) for p in ("dask", "distributed"))
    )
    listed = set(re.findall(r"`([\w.]+)`", between(ROOT / "docs" / "development.md", "dask-users")))
    assert listed == real, (
        f"docs/development.md's Dask list: missing {sorted(real - listed)}, "
        f"wrong {sorted(listed - real)}"
    )


def test_module_tree_names_every_module() -> None:
    page = text(ROOT / "docs" / "development.md")
    tree = page.split("## The modules", 1)[1].split("```")[1]
    named = {line.split()[0] for line in tree.splitlines() if line and not line[0].isspace()}
    real = {
        str(p.relative_to(ROOT)) + ("/" if p.is_dir() else "")
        for top in ("logloss", "flows")
        for p in (ROOT / top).iterdir()
        if (p.suffix == ".py" and p.stem != "__init__" or (p / "__init__.py").is_file())
    } | {"logloss/__init__.py"}
    assert not real - named, f"docs/development.md's module tree omits {sorted(real - named)}"
    assert not named - real, f"docs/development.md's module tree names {sorted(named - real)}"


# ------------------------------------------------------------------ links
def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return s.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    body = FENCE_RE.sub("", text(page))
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", body, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK_RE.findall(FENCE_RE.sub("", text(page))):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if str(dest.relative_to(ROOT)) in PENDING_PAGES and not dest.exists():
            continue
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{rel(page)}: broken links {broken}"


# ------------------------------------------------------------------ the README
def test_readme_is_short_and_keeps_the_two_commands() -> None:
    readme = text(README)
    assert len(readme) <= 12_000, f"README.md is {len(readme):,} characters (at most 12,000)"
    lines = [line for block in FENCE_RE.findall(readme) for line in block.splitlines()]
    assert TRAIN_COMMAND in lines, f"README.md lost the command `{TRAIN_COMMAND}`"
    assert TEST_COMMAND in lines, f"README.md lost the command `{TEST_COMMAND}`"
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(), ".ci/run must run the README's tests"
