"""Golden conversations: scripted user turns with the reply each must get, run through a real
ChatEngine. A turn passes when the reply's kind is one of the accepted kinds, every expected
string is in the reply (case-insensitive, Markdown emphasis ignored) and, for an extractive
answer with a ``source``, the answer cites that file (or the FAQ sheet).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from qabot.errors import QabotError


@dataclass(frozen=True)
class GoldenTurn:
    user: str
    kinds: tuple[str, ...]
    expect: tuple[str, ...] = ()
    source: str | None = None
    follow_up: bool = False


@dataclass(frozen=True)
class GoldenConversation:
    name: str
    turns: tuple[GoldenTurn, ...]


@dataclass(frozen=True)
class TurnResult:
    conversation: str
    turn: GoldenTurn
    kind: str
    text: str
    cited: tuple[str, ...]
    latency_ms: float
    passed: bool
    why: str = ""


def load_golden(path: str | Path) -> list[GoldenConversation]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        conversations = []
        for c in data["conversations"]:
            turns = []
            for t in c["turns"]:
                kinds = t["kind"] if isinstance(t["kind"], list) else [t["kind"]]
                expect = t.get("expect") or []
                turns.append(GoldenTurn(str(t["user"]), tuple(kinds),
                                        tuple(expect if isinstance(expect, list) else [expect]),
                                        t.get("source"), bool(t.get("follow_up"))))
            conversations.append(GoldenConversation(str(c["name"]), tuple(turns)))
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise QabotError(f"cannot read golden conversations {path}: {exc}") from None
    return conversations


def check_turn(turn: GoldenTurn, kind: str, text: str, cited: tuple[str, ...],
               faq_sources: tuple[str, ...] = ("faq.csv",)) -> str:
    """'' when the reply is right, else why not. An answer read from a curated FAQ answer
    (``faq_sources``) is as good a citation as the article's. Where an answer is expected, a
    ``related`` reply that shows the expected strings within 700 characters resolves the turn
    too (as ``qabot eval support`` counts it)."""
    resolving = (kind == "related" and bool({"answer", "faq"} & set(turn.kinds))
                 and len(text) <= 700 and bool(turn.expect))
    if kind not in turn.kinds and not resolving:
        return f"kind {kind}, expected {'/'.join(turn.kinds)}"
    plain = text.replace("**", "").lower()
    missing = [e for e in turn.expect if e.replace("**", "").lower() not in plain]
    if missing:
        return f"missing {missing}"
    if kind == "answer" and turn.source and not set(cited) & {turn.source, *faq_sources}:
        return f"cited {list(cited)}, expected {turn.source}"
    return ""


def run_golden(engine, conversations: list[GoldenConversation],
               channel: str = "golden") -> list[TurnResult]:
    results = []
    for number, conversation in enumerate(conversations):
        conv = engine.start(channel, f"{conversation.name}-{number}")
        for turn in conversation.turns:
            reply = engine.respond(conv, turn.user)
            cited = tuple(s.source for s in reply.sources)
            why = check_turn(turn, reply.kind, reply.text, cited)
            results.append(TurnResult(conversation.name, turn, reply.kind, reply.text, cited,
                                      reply.latency_ms, not why, why))
            if reply.kind == "end":
                conv = engine.start(channel, f"{conversation.name}-{number}")
    return results


def summarize(results: list[TurnResult]) -> dict:
    by_kind: Counter = Counter()
    passed_by_kind: Counter = Counter()
    for r in results:
        key = r.turn.kinds[0]
        by_kind[key] += 1
        passed_by_kind[key] += r.passed
    follow = [r for r in results if r.turn.follow_up]
    return {
        "turns": len(results),
        "passed": sum(r.passed for r in results),
        "pass_rate": round(sum(r.passed for r in results) / max(1, len(results)), 4),
        "follow_up_pass_rate": round(sum(r.passed for r in follow) / max(1, len(follow)), 4),
        "by_expected_kind": {k: f"{passed_by_kind[k]}/{n}" for k, n in sorted(by_kind.items())},
        "failures": [{"conversation": r.conversation, "user": r.turn.user, "why": r.why,
                      "reply": r.text[:160]} for r in results if not r.passed],
    }
