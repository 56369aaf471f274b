"""One error hierarchy: qabot's and the indexer's errors share the base every CLI catches."""

from __future__ import annotations

import pytest

import indexer.errors as indexer_errors
import qabot.errors as errors
from qabot import cli
from qabot.cli import chat as chat_cli


def test_one_base_and_one_class_per_name():
    assert errors.Error is indexer_errors.IndexerError
    assert issubclass(errors.QabotError, errors.Error)
    assert errors.IndexNotFoundError is indexer_errors.IndexNotFoundError
    # one InvalidSettingError for both packages' callers (and still a ValueError)
    assert issubclass(errors.InvalidSettingError, indexer_errors.InvalidSettingError)
    assert issubclass(errors.InvalidSettingError, ValueError)
    from qabot.retrieval import IndexNotFoundError

    assert IndexNotFoundError is indexer_errors.IndexNotFoundError


@pytest.mark.parametrize("error", [
    indexer_errors.IndexLockedError("index is locked by another process"),
    indexer_errors.ModelMismatchError("index built with model A, not B; rebuild with --rebuild"),
    errors.ModelNotFoundError("no reader model at /nowhere"),
    errors.NoIndexableFilesError("no indexable files in kb (0 ignored, 0 skipped): the folder "
                                 "is empty"),
])
def test_qabot_commands_print_indexer_and_qabot_errors_as_one_line(monkeypatch, capsys, error):
    def boom(args):
        raise error

    monkeypatch.setattr(chat_cli, "cmd_chat", boom)
    assert cli.main(["ask", "hello"]) == 1
    err = capsys.readouterr().err
    assert err == f"qabot: error: {error}\n"
