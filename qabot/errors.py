"""One error hierarchy for qabot. The CLI catches ``QabotError``, prints one line, exits 1."""

from __future__ import annotations


class QabotError(Exception):
    """Base class of every error qabot raises on purpose."""


class ModelNotFoundError(QabotError):
    """A trained model folder is missing or incomplete."""


class InvalidSettingError(QabotError, ValueError):
    """A setting has an invalid value."""
