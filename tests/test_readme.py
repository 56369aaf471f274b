"""The README's console sessions are what the software prints.

Every ``console`` block that shows a command with its output is either run here (or, for the
quickstart chat, by ``test_readme_quickstart.py``) and compared on its key lines, or marked
``<!-- illustrative -->`` on the line before its fence. A new block with output and no runner
fails ``test_every_console_block_with_output_is_checked``: add a runner or the mark.

What is compared, per command:
- ``qabot-index build``: every line, with the timing ("in 6.1 s") and the knowledge base's
  absolute path left out;
- ``qabot-index search``: the header and, for each row shown, its rank and source (the first
  hit and the order; scores and the elided text may move with the model);
and the numbers the README states beside them (the FAQ cut-off) are the code's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.conftest import EXAMPLE_KB, ROOT

README = ROOT / "README.md"
ILLUSTRATIVE = "<!-- illustrative -->"
RUN_ELSEWHERE = {"make run": "tests/test_readme_quickstart.py"}


@dataclass(frozen=True)
class Command:
    line: int  # in README.md
    command: str  # without the "$ " prompt and any trailing comment
    output: tuple[str, ...]


@dataclass(frozen=True)
class Block:
    line: int
    commands: tuple[Command, ...]
    illustrative: bool

    @property
    def shows_output(self) -> bool:
        return any(c.output for c in self.commands)


def console_blocks(text: str) -> list[Block]:
    blocks = []
    for match in re.finditer(r"^```console\n(.*?)^```", text, re.S | re.M):
        start = text[:match.start()].count("\n") + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        commands: list[list] = []
        for i, line in enumerate(match.group(1).splitlines()):
            if line.startswith("$ "):
                command = re.sub(r"\s+#.*$", "", line[2:]).strip()
                commands.append([start + 1 + i, command, []])
            elif commands:
                commands[-1][2].append(line)
        blocks.append(Block(start, tuple(Command(n, c, tuple(o)) for n, c, o in commands),
                            before.strip() == ILLUSTRATIVE))
    return blocks


def runner_of(command: str) -> str | None:
    for prefix in ("qabot-index build", "qabot-index search", *RUN_ELSEWHERE):
        if command.startswith(prefix):
            return prefix
    return None


# ---------------------------------------------------------------- the comparison (pure)

def build_lines(lines) -> list[str]:
    """A build's output with what varies between machines and runs left out."""
    out = []
    for line in lines:
        line = re.sub(r"in \d+(\.\d+)? s\b", "in N s", line)
        line = re.sub(r"Knowledge base: \S*?examples/kb ", "Knowledge base: examples/kb ", line)
        out.append(line.rstrip())
    return out


def search_rows(lines) -> list[tuple[str, str]]:
    """(rank, source) of each row shown; the header as ("#", its columns)."""
    rows = []
    for line in lines:
        if line.startswith("#"):
            rows.append(("#", " ".join(line.split())))
        elif re.match(r"^\d+\s", line):
            rank, _score, rest = line.split(maxsplit=2)
            rows.append((rank, re.split(r"\s{2,}", rest)[0].strip()))  # columns: 2+ spaces
    return rows


def mismatches(shown: Command, printed: list[str]) -> list[str]:
    """What the README shows for ``shown`` that the run did not print (empty: they agree)."""
    kind = runner_of(shown.command)
    if kind == "qabot-index build":
        want, got = build_lines(shown.output), build_lines(printed)
    elif kind == "qabot-index search":
        want = search_rows(shown.output)
        got = search_rows(printed)[:len(want)]
    else:
        raise AssertionError(f"no comparison for {shown.command!r}")
    if want == got:
        return []
    return [f"README.md:{shown.line} `{shown.command}` shows {want}, the run printed {got}"]


# ---------------------------------------------------------------- running them

@pytest.fixture(scope="module")
def printed(tmp_path_factory, example_index) -> dict[int, list[str]]:
    """Each command the README shows with output, run as shown (in this process: the
    session's encoder), by its README line."""
    import contextlib
    import io
    import os

    from indexer import cli

    work = tmp_path_factory.mktemp("readme")
    (work / "examples").mkdir()
    (work / "examples" / "kb").symlink_to(EXAMPLE_KB)
    out: dict[int, list[str]] = {}
    cwd = os.getcwd()
    os.chdir(work)  # the README's commands run from the repository root
    try:
        for block in console_blocks(README.read_text()):
            for command in block.commands:
                kind = runner_of(command.command)
                if not command.output or kind not in ("qabot-index build", "qabot-index search"):
                    continue
                args = _split(command.command)[1:]
                if kind == "qabot-index search":
                    args += ["--index", str(example_index)]  # the example KB's, built once
                buffer = io.StringIO()
                with contextlib.redirect_stdout(buffer):
                    code = cli.main([*args, "--no-progress"] if kind.endswith("build")
                                    else args)
                assert code == 0, (command.command, buffer.getvalue())
                out[command.line] = buffer.getvalue().splitlines()
    finally:
        os.chdir(cwd)
    return out


def _split(command: str) -> list[str]:
    import shlex

    return shlex.split(command)


def test_every_console_block_with_output_is_checked():
    unchecked = [f"README.md:{b.line}" for b in console_blocks(README.read_text())
                 if b.shows_output and not b.illustrative
                 and any(c.output and runner_of(c.command) is None for c in b.commands)]
    assert not unchecked, (f"console blocks with output that no test runs: {unchecked}; add a "
                           f"runner in tests/test_readme.py or mark them {ILLUSTRATIVE}")


@pytest.mark.model
def test_the_shown_outputs_are_what_the_commands_print(printed):
    found = []
    for block in console_blocks(README.read_text()):
        for command in block.commands:
            if command.line in printed:
                found += mismatches(command, printed[command.line])
    assert len(printed) >= 3  # two builds and a search
    assert not found, "\n".join(found)


@pytest.mark.model
def test_an_edited_output_is_caught(printed):
    """The check is not vacuous: each checked command, with one of its shown key lines edited
    (a build's count, a search's first hit), no longer agrees with what it printed."""
    from dataclasses import replace

    def edited(command: Command) -> Command:
        lines = list(command.output)
        if runner_of(command.command) == "qabot-index search":
            i = next(i for i, line in enumerate(lines) if re.match(r"^1\s", line))
            lines[i] = "1  0.500  webhooks.md > Verifying signatures | ..."
        else:
            i = next(i for i, line in enumerate(lines) if re.search(r"\d", line))
            lines[i] = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), lines[i], count=1)
        return replace(command, output=tuple(lines))

    checked = [c for b in console_blocks(README.read_text()) for c in b.commands
               if c.line in printed]
    assert checked
    for command in checked:
        assert not mismatches(command, printed[command.line])
        assert mismatches(edited(command), printed[command.line]), command.command


def test_the_faq_cut_off_stated_is_the_shipped_one():
    """The README and `qabot eval faq --help` state the FAQ cut-off the code uses."""
    from qabot.dialogue.confidence import load_confidence

    cut = f"{load_confidence().faq.info['validation']['cosine']:.3f}"
    text = " ".join(README.read_text().split())
    assert f"{cut} with the shipped retriever" in text
    assert "about 0.75" not in text


def test_the_web_message_limit_stated_is_the_apis():
    from qabot.frontends.web import ChatRequest

    limit = next(m.max_length for m in ChatRequest.model_fields["text"].metadata
                 if getattr(m, "max_length", None))
    assert f"`text`: 1-{limit:,} characters" in " ".join(README.read_text().split())


def test_the_usage_block_lists_every_option_of_qabot_index():
    """Each `qabot-index` command's line in the README's usage block names all its options."""
    import argparse

    from indexer.cli import _parser

    text = README.read_text()
    block = text[text.index("```bash\nqabot-index build KB_DIR"):]
    block = block[:block.index("```", 3)]
    usage = {}
    for line in block.replace("\n  ", " ").splitlines():
        if line.startswith("qabot-index "):
            name = line.split()[1]
            usage[name] = usage.get(name, "") + line
        elif line.startswith(" ") and usage:
            usage[list(usage)[-1]] += line
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or "-h" in action.option_strings:
                continue
            for option in action.option_strings[-1:]:  # the long form
                if option not in usage.get(name, ""):
                    missing.append(f"{name} {option}")
    assert not missing, f"the README's qabot-index usage block lacks: {missing}"


def test_the_settings_table_names_every_setting():
    """Each field of `qabot.config.Settings` has a row in the README's settings table."""
    from dataclasses import fields

    from qabot.config import Settings

    text = README.read_text()
    table = text[text.index("| setting | default |"):]
    table = table[:table.index("\n\n")]
    named = set(re.findall(r"`(\w+)`", "\n".join(line.split("|")[1] for line in
                                                 table.splitlines()[2:])))
    missing = [f.name for f in fields(Settings) if f.name not in named]
    assert not missing, f"the README's settings table lacks: {missing}"
