"""The shipped intent router (qabot/models/intents) on messages written for this test, not taken
from its training file, and on the example knowledge base's questions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOLDOUT = [json.loads(line) for line in (ROOT / "tests/data/intent_holdout.jsonl").open()]
KB_QUESTIONS = [json.loads(line)["question"]
                for line in (ROOT / "tests/data/kb_questions.jsonl").open()]


@pytest.fixture(scope="module")
def router():
    from qabot.intents.classifier import IntentClassifier

    router = IntentClassifier()
    router.warm_up()
    return router


def test_shipped_artifact_has_no_pickle_and_matches_the_default_intents():
    from qabot.intents.intentset import DEFAULT_INTENTS, load_intent_set

    model_dir = ROOT / "qabot" / "models" / "intents"
    assert {p.suffix for p in model_dir.iterdir()} <= {".json", ".safetensors", ".yaml"}
    meta = json.loads((model_dir / "intent_model.json").read_text())
    shipped = load_intent_set(model_dir / "intents.yaml")
    assert shipped.intents == load_intent_set(DEFAULT_INTENTS).intents  # retrain after edits
    assert meta["labels"] == sorted(shipped.names) and meta["mode"] == "features"


def test_holdout_texts_are_not_training_examples():
    from qabot.intents.intentset import DEFAULT_INTENTS, load_intent_set

    def norm(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    texts, _ = load_intent_set(DEFAULT_INTENTS).examples()
    training = {norm(t) for t in texts}
    assert not [h["text"] for h in HOLDOUT if norm(h["text"]) in training]


@pytest.mark.model
def test_routes_held_out_messages(router):
    predictions = router.predict_many([h["text"] for h in HOLDOUT])
    right = Counter(h["intent"] for h, p in zip(HOLDOUT, predictions) if p.intent == h["intent"])
    total = Counter(h["intent"] for h in HOLDOUT)
    assert sum(right.values()) >= 0.9 * len(HOLDOUT), right
    for intent, n in total.items():
        assert right[intent] >= 0.6 * n, (intent, right[intent], n)
    assert right["question"] >= 0.9 * total["question"]


@pytest.mark.model
def test_knowledge_base_questions_go_to_the_knowledge_base(router):
    predictions = router.predict_many(KB_QUESTIONS)
    routed = [p.intent for p in predictions]
    assert routed.count("question") >= 0.9 * len(KB_QUESTIONS), Counter(routed)
    assert all(p.action == "answer" for p in predictions if p.intent == "question")


@pytest.mark.model
def test_prediction_carries_confidence_runner_up_and_action(router):
    p = router.predict("hi there!")
    assert p.intent == "greeting" and p.action == "template"
    assert 0 < p.runner_up_confidence <= p.confidence <= 1 and p.runner_up != "greeting"
    handoff = router.predict("I need to speak with a real person please")
    assert handoff.intent == "human_handoff" and handoff.action == "handoff"
