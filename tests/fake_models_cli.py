"""``python -m tests.fake_models_cli COMMAND ...``: the real ``qabot`` CLI (``qabot.cli.main``:
its argument parsing, front ends, history, inbox, webhook server, ``--fd``, index hot-swap)
with the test fakes in place of the models, for tests of a real process whose unit is not the
models (delivery guarantees: inbox, leases, kills, replicas): it starts in about a second and
loads no model.

What ``qabot.app.build_engine`` builds, replaced where each model is made:

- the retriever's embedder: ``indexer.embedding.embedder_for`` gives a ``HashingEmbedder``
  for an index built with one (``indexer.sync.build(kb, index, HashingEmbedder())``) and
  refuses any other index, so no encoder loads;
- the intent router: ``RuleIntents`` (keyword rules, the shipped intent set's templates);
- the reader: ``NumberReader`` (the first "<number> <word>" of a passage sharing a word);
- the confidence models: ``fake_confidences()`` (every answer given, FAQ matches at cosine
  0.9 or more).

``QABOT_FAKE_MODEL_SECONDS`` (default 0; ``BotProcess`` sets it): how long routing each message
takes, a sleep in the engine's thread standing in for the real models' work (0.1 s or more a
message here, on two engine threads). Instant replies change what a kill catches: dozens of
chats answered at once send their replies in one burst, and a SIGKILL then finds several of
them sent but not yet marked done (the duplicate window, once per update: 9 duplicates in 5
kills of the crash test, measured); the real models space replies out, and so does this.

Torch cannot be imported in this process: a model loaded by mistake fails loudly."""

from __future__ import annotations

import os
import sys
import time

from tests.fakes import HashingEmbedder, NumberReader, RuleIntents, fake_confidences

HASHING_MODEL = HashingEmbedder().model_name


class FakeIntents(RuleIntents):
    """``RuleIntents`` built as ``IntentClassifier(model_dir, threshold=..., embedder=...)`` is;
    its ``meta`` names no encoder, so the engine routes the message's text, not its vector."""

    meta: dict = {}

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.seconds = float(os.environ.get("QABOT_FAKE_MODEL_SECONDS", "0"))

    def predict(self, text: str):
        time.sleep(self.seconds)
        return super().predict(text)


def install() -> None:
    """Put the fakes where ``build_engine`` makes the models (it imports these names when
    called, so patching their modules is enough)."""
    import indexer.embedding
    import qabot.app
    import qabot.dialogue.confidence
    import qabot.intents.classifier

    def embedder_for(model_name: str, dimension: int | None = None) -> HashingEmbedder:
        if model_name != HASHING_MODEL:
            raise AssertionError(f"fake_models_cli: the index was built with {model_name}, "
                                 f"not {HASHING_MODEL}: build it with HashingEmbedder()")
        return HashingEmbedder(dimension) if dimension else HashingEmbedder()

    indexer.embedding.embedder_for = embedder_for
    qabot.intents.classifier.IntentClassifier = FakeIntents
    qabot.app.build_reader = lambda settings: NumberReader()
    qabot.dialogue.confidence.load_confidence = lambda path=None: fake_confidences()
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises


def main(argv: list[str] | None = None) -> int:
    install()
    from qabot.cli.main import main as qabot_main

    return qabot_main(argv)


if __name__ == "__main__":
    sys.exit(main())
