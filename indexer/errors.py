"""One error hierarchy for the indexer: the CLI catches ``IndexerError`` and exits 1."""

from __future__ import annotations


class IndexerError(Exception):
    """Base class of every error the indexer raises on purpose."""


class LoadError(IndexerError):
    """A knowledge-base file could not be read (binary, wrong encoding, broken, empty)."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class KnowledgeBaseNotFoundError(IndexerError):
    """The knowledge-base folder does not exist or is not a folder."""


class NoIndexableFilesError(IndexerError):
    """The knowledge-base folder holds no file that can be indexed (empty, only ignored files,
    or every supported file failed to load): a build writes nothing."""

    def __init__(self, message: str, *, ignored: int = 0, skipped: int = 0):
        super().__init__(message)
        self.ignored = ignored
        self.skipped = skipped


class IndexNotFoundError(IndexerError):
    """No index at the given directory."""


class IndexLockedError(IndexerError):
    """Another process is writing the index."""


class ModelMismatchError(IndexerError):
    """The index was built with a different embedding model than the one in use."""


class IndexCorruptError(IndexerError):
    """The index on disk is inconsistent or unreadable."""


class InvalidSettingError(IndexerError, ValueError):
    """A parameter (chunk size, overlap, k, index type...) has an invalid value."""


class BM25NotUsableError(IndexerError):
    """A generation's saved BM25 index is missing, stale (another tokenizer version) or does not
    match its passages; readers build the index from the passages instead."""
