"""`qabot`'s parser and user mistakes: a sub-command's bad flag gets that sub-command's usage,
help texts state the numbers the code uses (read from where the code reads them), and a
knowledge base with nothing to index is one line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from qabot.cli.main import build_parser


def parse(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(list(argv))
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def one_paragraph(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("argv,prog", [
    (["ask", "hello", "--bogus"], "qabot ask"),
    (["eval", "support", "--kb", "kb", "--questions", "q.json", "--bogus"], "qabot eval support"),
    (["eval", "faq", "--pairs", "p.csv", "--bogus"], "qabot eval faq"),
    (["history", "stats", "--bogus"], "qabot history stats"),
])
def test_a_sub_commands_bad_flag_prints_its_own_usage(capsys, argv, prog):
    code, _, err = parse(capsys, *argv)
    assert code == 2
    assert err.startswith(f"usage: {prog} [-h]")
    assert err.strip().splitlines()[-1] == f"{prog}: error: unrecognized arguments: --bogus"


def test_a_bad_top_level_flag_still_gets_the_top_level_usage(capsys):
    code, _, err = parse(capsys, "--bogus", "ask", "hello")
    assert code == 2 and err.startswith("usage: qabot [-h]")
    assert "qabot: error: unrecognized arguments: --bogus" in err


def test_eval_faq_help_states_the_shipped_faq_cosine(capsys):
    from qabot.dialogue.confidence import load_confidence

    cosine = load_confidence().faq.info["validation"]["cosine"]
    _, out, _ = parse(capsys, "eval", "faq", "--help")
    assert f"operating point, {cosine:.3f})" in one_paragraph(out)
    assert "about" not in out and "{faq_cosine}" not in out


def test_eval_pipeline_help_states_the_bots_answer_confidence(capsys):
    from qabot.dialogue.confidence import load_confidence

    _, out, _ = parse(capsys, "eval", "pipeline", "--help")
    text = one_paragraph(out)
    assert "(default 15)" in text and "15, the bot's" not in text
    assert f"operating point, {load_confidence().answer.threshold:.4f}" in text


def test_history_forget_help_lists_every_channel(capsys):
    from qabot.channels import CHANNELS

    _, out, _ = parse(capsys, "history", "forget", "--help")
    assert "console, telegram or web (default: console)" in one_paragraph(out)
    assert CHANNELS == ("console", "telegram", "web")


def test_the_channels_are_the_front_ends_own():
    from qabot.channels import CHANNELS
    from qabot.frontends import console, telegram_io, web

    assert {console.CHANNEL, telegram_io.CHANNEL, web.CHANNEL} == set(CHANNELS)


def test_help_imports_no_model_library():
    import subprocess
    import sys

    code = ("import sys; from qabot.cli.main import build_parser\n"
            "for argv in (['eval', 'faq', '--help'], ['eval', 'pipeline', '--help']):\n"
            "    try: build_parser().parse_args(argv)\n"
            "    except SystemExit: pass\n"
            "print('HEAVY', [m for m in ('torch', 'transformers', 'sentence_transformers') "
            "if m in sys.modules])")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          timeout=120, check=True)
    assert "operating point" in proc.stdout and "HEAVY []" in proc.stdout


def test_eval_support_on_a_knowledge_base_with_nothing_to_index_is_one_line(tmp_path, capsys):
    import json

    from qabot import cli

    kb, index = tmp_path / "kb", tmp_path / "index"
    kb.mkdir()
    (kb / "notes.docx").write_bytes(b"PK")
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps({"questions": [{"q": "How do refunds work?",
                                                    "article": "refunds.md",
                                                    "answers": ["14 days"]}],
                                     "unanswerable": []}))
    capsys.readouterr()
    assert cli.main(["eval", "support", "--kb", str(kb), "--questions", str(questions),
                     "--index", str(index), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"qabot: error: no indexable files in {kb} (1 ignored, 0 skipped): ")
    assert not index.exists()
