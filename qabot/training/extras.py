"""What only training needs: ``datasets`` and ``accelerate`` (sentence-transformers' trainers)
come with ``pip install 'qabot[train]'`` (the development install has them); the bot itself,
and the Docker image, run without them."""

from __future__ import annotations

from qabot.errors import QabotError


class TrainingExtrasMissing(QabotError):
    """A training command was run where the training extras are not installed."""


def dataset_class():
    """``datasets.Dataset``, or a one-line error that says what to install."""
    try:
        import accelerate  # noqa: F401  (the trainers need it; say so now, not mid-run)
        from datasets import Dataset
    except ImportError as exc:
        raise TrainingExtrasMissing(
            f"training needs the training extras ({exc.name} is missing): pip install "
            "'qabot[train]'") from None
    return Dataset
