"""The README and docs/: every link lands, the quick start is what CI runs, and it reads to the end.

Links are checked as GitHub renders them: a relative link must name a file of the
repository, and its ``#anchor`` a heading of that page (GitHub's slug: lower case,
punctuation dropped, spaces turned into hyphens, ``-1``, ``-2`` … for repeats). Code
blocks and inline code are not prose: a ``[x](y)`` inside them is no link.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from pathlib import Path

import pytest

from stravasync.cli import cli

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
CI_RUN = REPO / ".ci" / "run"

#: "README.md at most about 250 lines": what it is, the quick start, five steps, links.
README_MAX_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def pages() -> list[Path]:
    """Every Markdown page a reader can reach: the README and everything in docs/."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked out."""
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub("", line))
    return lines


def code_blocks(text: str, *, language: str) -> list[list[str]]:
    """The fenced code blocks of one language, each as its lines."""
    blocks: list[list[str]] = []
    fence_language: str | None = None
    for line in text.splitlines():
        opening = re.match(r"^\s*(?:```|~~~)\s*(\S*)", line)
        if fence_language is None and opening:
            fence_language = opening.group(1)
            blocks.append([])
        elif opening:
            if fence_language != language:
                blocks.pop()
            fence_language = None
        elif fence_language is not None:
            blocks[-1].append(line)
    return blocks


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.replace("`", "").lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub gives the headings of a page, repeats numbered."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = HEADING.match(line)
        if fenced or match is None:
            continue
        base = slug(match.group(2))
        found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def relative_links(page: Path) -> list[str]:
    """The targets of every link in a page's prose that stays inside the repository."""
    text = "\n".join(prose_lines(page.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(text) if not SCHEME.match(target)]


def broken_links() -> list[str]:
    """Each relative link, in any page, whose file or heading is not there."""
    broken: list[str] = []
    for page in pages():
        for target in relative_links(page):
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            name = f"{page.relative_to(REPO)}: {target}"
            if not dest.exists() or not dest.is_relative_to(REPO):
                broken.append(f"{name} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{name} (no such heading)")
    return broken


def quick_start_commands() -> list[str]:
    """The commands of the README's quick-start block, comments and blank lines left out."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    block = code_blocks(section, language="sh")[0]
    return [line.strip() for line in block if line.strip() and not line.lstrip().startswith("#")]


def test_every_relative_link_lands_on_a_file_and_heading_that_exist() -> None:
    """A reader who follows any link in the README or docs/ reaches a page and the heading it names."""
    assert [] == broken_links()


def test_the_link_check_catches_a_missing_page_and_a_missing_heading(tmp_path: Path) -> None:
    """The check sees a link to a page that is not there and to a heading a page lacks."""
    page = tmp_path / "page.md"
    page.write_text("# Top\n\n## Every key\n\nSee [keys](#every-key), [gone](#gone), "
                    "[other](other.md), `[code](nowhere.md)`.\n", encoding="utf-8")
    assert ["#every-key", "#gone", "other.md"] == relative_links(page)
    assert {"top", "every-key"} == anchors(page)


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("5. Run it in the background: `stravasync service install`",
         "5-run-it-in-the-background-stravasync-service-install"),
        ("What happens to files after upload (`upload.after`)",
         "what-happens-to-files-after-upload-uploadafter"),
        ("Strava's new API host", "stravas-new-api-host"),
        ("Network shares, sshfs and FUSE mounts: polling",
         "network-shares-sshfs-and-fuse-mounts-polling"),
    ],
)
def test_anchors_are_githubs_slugs(heading: str, expected: str) -> None:
    """A heading's anchor is the one GitHub gives it, so a link that works here works there."""
    assert expected == slug(heading)


def test_the_docs_index_links_every_page() -> None:
    """docs/README.md names every page in docs/, so none is out of a reader's reach."""
    index = DOCS / "README.md"
    linked = {(index.parent / target.partition("#")[0]).resolve()
              for target in relative_links(index)}
    pages_in_docs = {page.resolve() for page in DOCS.rglob("*.md")} - {index.resolve()}
    assert set() == pages_in_docs - linked


def test_the_readme_is_short_enough_to_read_to_the_end() -> None:
    """The README stays a page a newcomer reads through; the reference lives in docs/."""
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move details to docs/"


def test_the_quick_start_is_two_commands() -> None:
    """The quick start is one command that shows the demo and one that runs the tests."""
    assert 2 == len(quick_start_commands())


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    """.ci/run runs exactly the README's test command, so the README's promise is what CI proves."""
    readme_test = quick_start_commands()[1]
    ci_commands = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()
                   if "-m pytest" in line and not line.lstrip().startswith("#")]
    assert [readme_test] == ci_commands


def test_the_demo_command_installs_as_the_test_command_does_and_runs_the_demo() -> None:
    """The demo command makes the same venv and installs the same package, without the test extra."""
    demo, test = (command.split(" && ") for command in quick_start_commands())
    make_venv, install_tests, _pytest = test
    expected = [make_venv, install_tests.replace(" '.[test]'", " ."), ".venv/bin/stravasync demo"]
    assert expected == demo
    assert "demo" in cli.commands


def test_venv_instructions_call_the_program_through_the_venv() -> None:
    """A shell block that sets up a venv runs stravasync from the venv's bin, or activates it first.

    The venv's ``bin`` is not on ``PATH``: a bare ``stravasync`` there fails with
    "command not found".
    """
    bare: list[str] = []
    for page in pages():
        for block in code_blocks(page.read_text(encoding="utf-8"), language="sh"):
            text = "\n".join(block)
            if "-m venv" not in text or "activate" in text:
                continue
            for line in block:
                if shlex.split(line, comments=True)[:1] == ["stravasync"]:
                    bare.append(f"{page.relative_to(REPO)}: {line.strip()}")
    assert [] == bare


def documented_completion_modes() -> list[str]:
    """The ``_STRAVASYNC_COMPLETE`` values the shell-completion section tells people to use."""
    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    section = text.split("\n## Shell completion\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"_STRAVASYNC_COMPLETE=(\w+) stravasync", section)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_is_documented_and_works(
    shell: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Each shell's documented completion line makes stravasync print that shell's script."""
    mode = f"{shell}_source"
    assert mode in documented_completion_modes()
    monkeypatch.setenv("_STRAVASYNC_COMPLETE", mode)
    with pytest.raises(SystemExit) as exited:
        cli.main(args=[], prog_name="stravasync")
    assert 0 == exited.value.code
    script = capsys.readouterr().out
    assert f"_STRAVASYNC_COMPLETE={shell}_complete" in script
