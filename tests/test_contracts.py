"""Contract tests: every implementation of an engine collaborator, real or fake, satisfies the
protocol the engine is typed with (qabot/dialogue/protocols.py) and behaves as it expects, so
the fakes other tests use cannot drift from the real components."""

from __future__ import annotations

import pytest

from qabot.dialogue.protocols import ConversationStore, IntentRouter, Reading, Retrieval
from qabot.intents.intentset import ACTIONS
from qabot.reader.model import ReaderResult
from tests.fakes import NumberReader, RuleIntents

PASSAGES = ["Our keyboard shortcuts are listed under Settings.",
            "Annual plans can be refunded within 14 days of purchase."]


def real_reader():
    from qabot.reader.model import Reader

    return Reader()


def real_router():
    from qabot.intents.classifier import IntentClassifier

    return IntentClassifier()


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.model)])
def reader(request):
    return NumberReader() if request.param == "fake" else real_reader()


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.model)])
def router(request):
    return RuleIntents() if request.param == "fake" else real_router()


def test_readers_answer_with_a_span_of_a_given_passage_or_abstain(reader):
    assert isinstance(reader, Reading)
    reader.warm_up()
    result = reader.read("How many days do I have to get a refund for annual plans?", PASSAGES)
    assert isinstance(result, ReaderResult)
    assert not result.abstained and result.answers
    best = result.answers[0]
    assert best.passage_index == 1
    assert PASSAGES[1][best.start:best.end] == best.text and "14" in best.text
    assert reader.read("Who is the CEO of your competitor?", PASSAGES[:1]).abstained


def test_routers_give_a_known_intent_with_an_action_and_a_probability(router):
    assert isinstance(router, IntentRouter)
    router.warm_up()
    names = set(router.intent_set.by_name) | {"out_of_scope"}
    for text in ("hello there", "how do I get a refund for my annual plan?"):
        p = router.predict(text)
        assert p.intent in names and p.action in ACTIONS and 0.0 <= p.confidence <= 1.0
    assert router.predict("how do I get a refund for my annual plan?").action == "answer"
    assert isinstance(router.uses_embeddings, bool)


def test_the_real_retriever_and_history_satisfy_their_protocols(kb_index, fake_embedder,
                                                                  tmp_path):
    from qabot.history import History
    from qabot.retrieval import Retriever

    retriever = Retriever(kb_index, fake_embedder, mode="hybrid")
    assert isinstance(retriever, Retrieval)
    hits = retriever.search("refund for an annual plan", 3)
    assert len(hits) == 3 and all(h.text and h.source for h in hits)
    history = History.open(f"sqlite:///{tmp_path / 'h.sqlite'}")
    try:
        assert isinstance(history, ConversationStore)
    finally:
        history.close()
