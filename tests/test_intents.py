"""Intent files, routing maths, metrics, both training modes, and the intent CLI."""

from __future__ import annotations

import json
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from qabot.intents.intentset import OUT_OF_SCOPE, IntentSetError, load_intent_set
from qabot.intents.routing import route, routed_labels
from qabot.training.intent_metrics import choose_threshold, intent_metrics
from tests.fakes import HashingEmbedder

TINY = {
    "greeting": ["hi", "hello", "hey there", "good morning", "hello bot", "hi hi", "hey",
                 "good evening", "howdy", "greetings"],
    "refund": ["i want my money back", "refund please", "how do i get a refund",
               "refund my order", "money back for my order", "can i get a refund",
               "refund status", "where is my refund", "request a refund", "refund policy"],
    "password": ["reset my password", "forgot password", "password reset link",
                 "change my password", "cannot remember my password", "password not working",
                 "new password", "password help", "lost my password", "update password"],
    "out_of_scope": ["capital of peru", "tell me a recipe", "who won the cup",
                     "weather in paris", "play some music", "book a flight",
                     "translate to french", "what is 2 plus 2", "set an alarm", "movie tips"],
}


def write_yaml(path, intents: dict[str, list[str]], actions=None) -> str:
    actions = actions or {}
    lines = ["version: 1", "intents:"]
    for name, examples in intents.items():
        action = actions.get(name, "fallback" if name == OUT_OF_SCOPE else "answer")
        lines += [f"  - name: {name}", f"    action: {action}", "    examples:"]
        lines += [f"      - {json.dumps(e)}" for e in examples]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# ---------------------------------------------------------------- intent files


def test_intent_file_loads_with_actions(tmp_path):
    intent_set = load_intent_set(write_yaml(tmp_path / "i.yaml", TINY))
    assert intent_set.names == list(TINY)
    assert intent_set.action("refund") == "answer"
    assert intent_set.action(OUT_OF_SCOPE) == "fallback"
    assert intent_set.action("never-heard-of") == "fallback"
    texts, labels = intent_set.examples()
    assert len(texts) == 40 and labels.count("password") == 10


@pytest.mark.parametrize(("body", "message"), [
    ("intents:\n  - {name: a, examples: [x]}\n  - {name: a, examples: [y]}\n", "defined twice"),
    ("intents:\n  - {name: a, examples: []}\n  - {name: b, examples: [y]}\n", "has no examples"),
    ("intents:\n  - {name: a, examples: ['  ']}\n  - {name: b, examples: [y]}\n",
     "has no examples"),
    ("intents:\n  - {name: a, action: dance, examples: [x]}\n  - {name: b, examples: [y]}\n",
     "unknown action 'dance'"),
    ("intents:\n  - {name: a, action: template, examples: [x]}\n  - {name: b, examples: [y]}\n",
     "needs at least one response"),
    ("intents:\n  - {name: a, examples: [yes, x]}\n  - {name: b, examples: [y]}\n",
     "True is not text"),
    ("intents:\n  - {examples: [x]}\n", "has no name"),
    ("intents:\n  - {name: a, examples: [x]}\n", "at least two intents"),
    ("intents: [oops\n", "not valid YAML"),
    ("just: text\n", "'intents' list"),
])
def test_bad_intent_files_are_clear_errors(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(IntentSetError, match=message):
        load_intent_set(path)


def test_csv_intents_and_missing_or_unknown_files(tmp_path):
    csv_file = tmp_path / "banking.csv"
    csv_file.write_text("text,category\nwhere is my card?,card_arrival\n"
                        "card still not here,card_arrival\nwhat is the fee?,fees\n")
    intent_set = load_intent_set(csv_file)
    assert intent_set.names == ["card_arrival", "fees"]
    assert intent_set.by_name["card_arrival"].examples == ("where is my card?",
                                                           "card still not here")
    with pytest.raises(IntentSetError, match="not found"):
        load_intent_set(tmp_path / "missing.yaml")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(IntentSetError, match="unsupported"):
        load_intent_set(tmp_path / "x.txt")


# ---------------------------------------------------------------- routing and metrics


def test_route_applies_the_threshold_and_keeps_the_runner_up():
    labels = ["greeting", "refund", "password"]
    sure = route(np.array([0.1, 0.8, 0.1]), labels, threshold=0.5)
    assert (sure.intent, sure.top_intent, sure.runner_up) == ("refund", "refund", "greeting")
    assert sure.confidence == pytest.approx(0.8) and not sure.out_of_scope
    unsure = route(np.array([0.3, 0.4, 0.3]), labels, threshold=0.5)
    assert unsure.out_of_scope and unsure.top_intent == "refund"
    assert unsure.runner_up_confidence == pytest.approx(0.3)
    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25]])
    assert routed_labels(probs, labels, 0.5) == ["greeting", OUT_OF_SCOPE]


def test_metrics_on_a_hand_made_case():
    gold = ["a", "a", "b", OUT_OF_SCOPE, OUT_OF_SCOPE]
    routed = ["a", "b", "b", OUT_OF_SCOPE, "a"]
    m = intent_metrics(gold, routed)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["in_scope_accuracy"] == pytest.approx(2 / 3)
    assert m["oos_recall"] == pytest.approx(0.5) and m["oos_precision"] == pytest.approx(1.0)
    # a: precision 1/2, recall 1/2; b: precision 1/2, recall 1; oos: precision 1, recall 1/2
    assert m["per_intent"]["b"]["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)


def test_threshold_choice_separates_confident_from_unsure():
    labels = ["a", "b"]
    probs = np.array([[0.95, 0.05], [0.1, 0.9], [0.85, 0.15], [0.55, 0.45], [0.5, 0.5]])
    gold = ["a", "b", "a", OUT_OF_SCOPE, OUT_OF_SCOPE]
    threshold, metrics = choose_threshold(probs, gold, labels, "balanced")
    assert 0.55 < threshold <= 0.85
    assert metrics["in_scope_accuracy"] == 1.0 and metrics["oos_recall"] == 1.0
    # nothing to tune without out-of-scope examples: never reject
    assert choose_threshold(probs[:3], gold[:3], labels)[0] == 0.0


def test_linear_heads_reproduce_scikit_learn_probabilities():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from qabot.intents.classifier import head_probabilities
    from qabot.training.intent_training import _linear_head

    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    x = rng.normal(size=(90, 8)) + np.repeat(np.eye(3, 8) * 2, 30, axis=0)
    y = [label for label in labels for _ in range(30)]
    test = rng.normal(size=(20, 8))
    ours = head_probabilities(test, _linear_head("logreg", 3.0, x, y, labels, seed=1))
    theirs = LogisticRegression(C=3.0, max_iter=3000, random_state=1).fit(x, y)
    np.testing.assert_allclose(ours, theirs.predict_proba(test), atol=1e-6)
    ours = head_probabilities(test, _linear_head("svm", 1.0, x, y, labels, seed=1))
    theirs = CalibratedClassifierCV(LinearSVC(C=1.0, random_state=1), method="sigmoid", cv=3,
                                    ensemble=False).fit(x, y)
    np.testing.assert_allclose(ours, theirs.predict_proba(test), atol=1e-6)
    binary = _linear_head("logreg", 1.0, x[:60], y[:60], labels[:2], seed=1)
    theirs = LogisticRegression(C=1.0, max_iter=3000, random_state=1).fit(x[:60], y[:60])
    np.testing.assert_allclose(head_probabilities(test, binary), theirs.predict_proba(test),
                               atol=1e-6)


# ---------------------------------------------------------------- training


def test_features_mode_trains_saves_and_routes(tmp_path):
    from qabot.intents.classifier import IntentClassifier
    from qabot.training.intent_training import IntentTrainConfig, train_intents

    data = write_yaml(tmp_path / "i.yaml", TINY)
    embedder = HashingEmbedder(dimension=256)
    meta = train_intents(IntentTrainConfig(data=data, out_dir=str(tmp_path / "m"), c=10.0),
                         progress=False, embedder=embedder)
    assert meta["mode"] == "features" and meta["labels"] == sorted(TINY)
    assert meta["train_examples"] == 36 and meta["val_examples"] == 4
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert files == {"intent_model.json", "head.safetensors", "intents.yaml"}
    clf = IntentClassifier(tmp_path / "m", embedder=embedder, threshold=0.0)
    for name in ("refund", "password", "greeting"):
        predictions = clf.predict_many(TINY[name])
        assert sum(p.intent == name for p in predictions) >= 9, name
    p = clf.predict_vector(embedder.embed(["refund please"])[0])
    assert p.intent == "refund" and p.action == "answer"
    strict = IntentClassifier(tmp_path / "m", embedder=embedder, threshold=0.999)
    assert strict.predict("refund please").intent == OUT_OF_SCOPE


@pytest.mark.model
@pytest.mark.slow
def test_finetune_mode_learns_the_tiny_set(tmp_path):
    from qabot.intents.classifier import IntentClassifier
    from qabot.training.intent_training import IntentTrainConfig, train_intents

    data = write_yaml(tmp_path / "i.yaml", TINY)
    meta = train_intents(IntentTrainConfig(
        data=data, out_dir=str(tmp_path / "ft"), mode="finetune", epochs=8, patience=8,
        batch_size=8, learning_rate=1e-4), progress=False)
    assert meta["mode"] == "finetune" and meta["epochs_run"] == 8
    assert meta["history"][-1]["loss"] < meta["history"][0]["loss"]
    clf = IntentClassifier(tmp_path / "ft", threshold=0.0)
    texts, labels = load_intent_set(data).examples()
    right = sum(p.intent == gold for p, gold in zip(clf.predict_many(texts), labels))
    assert right >= 0.9 * len(texts)


# ---------------------------------------------------------------- CLI


def test_cli_trains_and_evaluates_intents(tmp_path, capsys, monkeypatch):
    from qabot import cli

    data = write_yaml(tmp_path / "i.yaml", TINY)
    embedder = HashingEmbedder(dimension=256)
    monkeypatch.setattr("indexer.embedding.SentenceTransformerEmbedder",
                        SimpleNamespace(named=lambda spec=None: embedder))
    monkeypatch.setattr("indexer.embedding.embedder_for", lambda name, dimension=None: embedder)
    out = tmp_path / "model"
    assert cli.main(["train", "intents", "--data", data, "--out", str(out), "--c", "10"]) == 0
    assert "trained features intent model on 36 examples (4 intents)" in capsys.readouterr().out
    png = tmp_path / "confusion.png"
    assert cli.main(["eval", "intents", "--data", data, "--model", str(out), "--json",
                     "--confusion", str(png)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["messages"] == 40 and metrics["accuracy"] >= 0.9
    assert set(metrics["per_intent"]) == set(TINY)
    assert png.read_bytes()[:4] == b"\x89PNG"
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        intents:
          - {name: a, action: dance, examples: [x]}
          - {name: b, examples: [y]}
    """))
    assert cli.main(["train", "intents", "--data", str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qabot: error:") and "unknown action 'dance'" in err
    assert (out / "intent_model.json").is_file()  # the failed run left the old model alone


def test_emoji_are_spelled_out_for_the_encoder():
    from qabot.intents.text import prepare

    assert prepare("👍") == "thumbs up sign"
    assert prepare("👎") != prepare("👍")
    assert prepare("thanks 🙏🏽!") == "thanks person with folded hands !"
    assert prepare("  refund   for €5 ") == "refund for €5"
    assert prepare("Grüße") == "Grüße"


def test_a_test_file_is_scored_whole_even_with_repeated_messages(tmp_path):
    from qabot.training.intent_data import load_labelled

    path = tmp_path / "test.csv"
    path.write_text("text,category\nhi,greeting\nhi,greeting\nrefund?,refund\n")
    data, intent_set = load_labelled(path)
    assert data.texts == ["hi", "hi", "refund?"] and len(data) == 3
    assert intent_set.by_name["greeting"].examples == ("hi",)


def test_threshold_is_tuned_on_out_of_scope_validation_without_an_oos_class(tmp_path):
    from qabot.training.intent_training import IntentTrainConfig, train_intents

    in_scope = {k: v for k, v in TINY.items() if k != OUT_OF_SCOPE}
    data = write_yaml(tmp_path / "train.yaml", in_scope)
    val = tmp_path / "val.jsonl"
    val.write_text("".join(json.dumps({"text": t, "intent": i}) + "\n" for i, t in (
        ("refund", "refund my money"), ("password", "password reset please"),
        ("greeting", "hello hello"), (OUT_OF_SCOPE, "capital of france"),
        (OUT_OF_SCOPE, "recipe for soup"))))
    meta = train_intents(IntentTrainConfig(data=data, val_data=str(val),
                                           out_dir=str(tmp_path / "m"), c=10.0),
                         progress=False, embedder=HashingEmbedder(dimension=256))
    assert OUT_OF_SCOPE not in meta["labels"] and meta["val_examples"] == 5
    assert meta["threshold"] > 0 and meta["validation"]["oos_recall"] > 0
