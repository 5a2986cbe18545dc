"""The documentation cannot drift from the code: every configuration key is described where it is declared, the
committed configuration reference is what the command prints, every relative link leads to a file (and heading),
the README's quick start keeps its two commands, and its layout lists every module of the library in its layer."""

from __future__ import annotations

import re
from pathlib import Path

from monitoring import cli
from monitoring.config_reference import COMMAND, keys, render, undescribed
from tests import structure
from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """Markdown without its fenced code blocks and inline code (a `# comment` is no heading, `[a](b)` no link)."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lowercase, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.*)$", FENCE.sub("", path.read_text(encoding="utf-8")), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def _section(text: str, title: str) -> str:
    """The text of a `## title` section, up to the next `## ` heading (code blocks kept)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def test_every_configuration_key_has_a_description():
    missing = [row.path for row in keys() if not row.description.strip()]
    assert missing == [], f"add a description= to these keys in monitoring/config.py: {missing}"
    assert undescribed() == [], f"add a description= to these fields in monitoring/config.py: {undescribed()}"


def test_the_committed_configuration_reference_is_what_the_command_prints(capsys):
    assert cli.main(["config-reference"]) == cli.EXIT_OK
    printed = capsys.readouterr().out
    assert printed == render()
    committed = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert committed == printed, f"docs/config-reference.md is out of date: regenerate it with `{COMMAND}`"


def test_the_configuration_reference_lists_nested_keys_by_their_full_path():
    paths = {row.path: row for row in keys()}
    assert paths["drift.band_sigma"].default == "`3.0`"
    assert paths["storage.bucket"].required == "yes"
    assert paths["labels.column"].required == "yes, when `labels` is set"
    assert paths["rules.dataset_drift.severity"].default == "`critical`"  # the block's default, not the class's
    assert paths["rules.estimator_unreliable.severity"].default == "`info`"
    assert paths["drift.columns.<column>.method"].required == "yes, in each entry"
    assert "performance.rules.<metric>.min_drop" in paths
    assert paths["alerts.channels[].type"].type == "`slack` | `email` | `sns` | `webhook`"


def test_every_relative_link_of_the_readme_and_the_docs_leads_to_a_file():
    broken = []
    for page in [README, *DOCS]:
        for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_the_quick_start_has_exactly_its_two_commands():
    quick_start = _section(README.read_text(encoding="utf-8"), "Quick start").split("\n### ")[0]
    commands = [line.split("#")[0].strip() for block in FENCE.findall(quick_start)
                for line in block.split("\n")[1:-1] if line.split("#")[0].strip()]
    assert commands == ["make demo", "make test"]


def test_the_readme_layout_lists_every_module_of_the_library_in_its_layer():
    layout = FENCE.findall(_section(README.read_text(encoding="utf-8"), "Layout"))[0]
    listed, steps, layer = {}, set(), None
    for line in layout.split("\n"):
        if match := re.match(r"^  (\S+)\.py\s", line):
            listed[match.group(1)] = layer
        elif match := re.match(r"^    (\S+)\.py\s", line):
            steps.add(match.group(1))
        elif re.match(r"^  [a-z][a-z' ]*[a-z]$", line):  # a layer's name, e.g. "  rules of evidence"
            layer = line.strip()
    library = ROOT / "monitoring"
    assert set(listed) == {p.stem for p in library.glob("*.py")}, "list each module of monitoring/ in the layout"
    assert steps == {p.stem for p in (library / "steps").glob("*.py")}, "list each step module in the layout"
    names = dict(structure.LAYERS)
    misplaced = sorted(m for m, name in listed.items() if m != "__init__" and m not in names.get(name, ()))
    assert misplaced == [], "put these modules under their layer (tests/structure.py LAYERS)"
