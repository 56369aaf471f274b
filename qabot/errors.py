"""One error hierarchy for qabot and its indexer.

``Error`` (the indexer's ``IndexerError``) is the one base every CLI catches: ``qabot-index``
catches it, and so does ``qabot``, so a locked, missing or mismatched index is one line on
stderr and exit status 1 from any command, never a traceback. ``QabotError`` is the base of the
errors qabot itself raises; the indexer's errors are re-exported here under their own names
(one class each: ``qabot.errors.IndexNotFoundError is indexer.errors.IndexNotFoundError``).
"""

from __future__ import annotations

from indexer import errors as _indexer
from indexer.errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    KnowledgeBaseNotFoundError,
    LoadError,
    ModelMismatchError,
    NoIndexableFilesError,
)

Error = _indexer.IndexerError

__all__ = ["Error", "IndexCorruptError", "IndexLockedError", "IndexNotFoundError",
           "InvalidSettingError", "KnowledgeBaseNotFoundError", "LoadError",
           "ModelMismatchError", "ModelNotFoundError", "NoIndexableFilesError",
           "NotIndexedError", "OperatorAnswerError", "QabotError"]


class QabotError(Error):
    """Base class of every error qabot (outside the indexer) raises on purpose."""


class ModelNotFoundError(QabotError):
    """A trained model folder is missing or incomplete."""


class InvalidSettingError(QabotError, _indexer.InvalidSettingError):
    """A setting has an invalid value (also an indexer ``InvalidSettingError`` and a
    ``ValueError``)."""


class OperatorAnswerError(QabotError):
    """An operator's answer was refused and nothing was changed: an empty question or answer,
    an answer too long, no knowledge-base folder configured, or a sheet or folder that cannot be
    written."""


class NotIndexedError(QabotError):
    """Operator answers were saved to the knowledge base, but the index could not be updated
    (they are indexed by the next successful reindex)."""


class OperatorReplyError(QabotError):
    """An operator's reply (or release) in a conversation was refused and nothing was stored:
    an empty or over-long text, no such conversation, or one that no longer waits for a
    person."""
