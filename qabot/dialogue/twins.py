"""Near-twin FAQ questions: which of the nearest curated questions is the user's?

A help centre's FAQ holds questions that differ in one word: "What's the API rate limit on
Pro?" next to "…on Free?", "How do I pay yearly?" next to "…monthly?", "Does it run on iOS 16?"
next to "…on Android 10?". An encoder puts such twins (and a message naming any one of them)
close together, so the nearest question can be the wrong twin at a high cosine. This module
decides, from words alone, whether the user's message names what a question names.

Terms: the words of a text, NFKC-normalised and casefolded, without English function words and
with a light plural ending removed ("plans" -> "plan"); a number is one term ("1.2", "10,000").

Slot terms (what twins differ in: a plan, product, platform, version, number), found without any
list of names, in the message and the nearest questions and their curated answers:
- a term with a digit ("5", "2fa", "macos 12" gives "12");
- a word written as a name: with a capital inside it (iOS, macOS, API) or capitalised where a
  sentence does not start ("on Pro", "the Free plan includes ...");
- the term in which two of the nearest questions differ when each has just one of its own on a
  shared frame ("... switch to monthly billing?" / "... switch to yearly billing?").

A candidate question C (terms) against the message M (terms), with the slot terms S, where
``foreign`` = (M - C) & S (what the message names and C does not) and ``missing`` = (C - M) & S:
- contradicted: the message swaps a slot term (``foreign`` and ``missing`` both non-empty: "Free"
  asked, "Pro" curated), or names a term of one of C's twins that C lacks while naming none of
  C's own slot terms that the twin lacks;
- ambiguous: C and one of its twins each have a slot term of their own that the message names
  neither of ("What's the API rate limit?" between "...on Pro?" and "...on Free?");
- otherwise it agrees.
Twins of a candidate: the other nearest questions whose score is within ``margin`` of its own,
or that differ from it in wording as slot-term twins do (above).

``choose`` takes the nearest question when it agrees. Else it takes the first lower one that
agrees and resolves the refusal: one that names a slot term the message named and the nearest
lacked (after a contradiction), or one with no ``missing`` term at all (after an ambiguity); it
is returned with its own score, which the FAQ confidence then judges. Else none is the user's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

MARGIN = 0.1  # twins by score: within this cosine of each other

# English function words and question words: never what twins differ in
STOP = frozenset("""a about after all also am an and any are aren as at be been before being but
by can cannot could did didn do does doesn doing don done during each else for from had has have
having he her here hers him his how i if in into is isn it its just let me mine more most my no
nor not of off on once only or other our ours out over own same she should so some such than that
the their theirs them then there these they this those through to too under until up upon us very
was wasn we were what whats when where whether which while who whom whose why will with within
without won would you your yours yourself""".split())
_CLITICS = frozenset({"s", "t", "re", "ll", "ve", "d", "m"})  # it's, don't, we're, ...
_WORD = re.compile(r"[^\W_]+(?:[.,:'’][^\W_]+)*")
_SENTENCE_END = frozenset(".!?;:>|\n")  # a capital after these does not make a name


@dataclass(frozen=True)
class Written:
    """The terms of a text and which of them it writes as names or numbers."""

    terms: frozenset[str]
    names: frozenset[str]


@dataclass(frozen=True)
class Choice:
    """Which candidate is the user's question: ``index`` into the candidates, None for none.
    ``reason``: "agrees" (the best one), "twin" (a lower one, the better ones did not agree),
    "contradicted" or "ambiguous" (why the best one was refused, when none agrees); "none" (no
    questions).
    ``terms``: the slot terms that decided against the better candidates (sorted)."""

    index: int | None
    reason: str
    terms: tuple[str, ...] = ()


def stem(word: str) -> str:
    """``word`` without a plural ending: plans -> plan, policies -> policy, boxes -> box; words
    ending in -ss, -us, -is, -os stay (access, plus, analysis, macos)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        return word[:-1]
    return word


def read(text: str) -> Written:
    """The terms of ``text`` and those written as names or numbers (module docstring)."""
    text = unicodedata.normalize("NFKC", text)
    terms: set[str] = set()
    names: set[str] = set()
    for m in _WORD.finditer(text):
        word = m.group()
        head, _, tail = word.replace("’", "'").partition("'")
        if tail and tail.casefold() not in _CLITICS:
            head = word.replace("’", "'")  # o'clock: one word
        term = head.casefold()
        if term in STOP:
            continue
        term = stem(term)
        terms.add(term)
        if _written_as_name(head, text, m.start()):
            names.add(term)
    return Written(frozenset(terms), frozenset(names))


def _written_as_name(word: str, text: str, start: int) -> bool:
    if any(c.isdigit() for c in word) or any(c.isupper() for c in word[1:]):
        return True  # 5, 2FA, iOS, macOS, API
    if not word[:1].isupper():
        return False
    before = text[:start].rstrip(" \t\"'“‘(*-•")
    return bool(before) and before[-1] not in _SENTENCE_END  # capitalised mid-sentence


def terms(text: str) -> frozenset[str]:
    return read(text).terms


def wording_twins(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two questions that differ as twins do: one term each, on a frame of shared terms."""
    return len(a - b) == 1 and len(b - a) == 1 and len(a & b) >= 1


def slot_terms(message: Written, questions: Sequence[Written],
               answers: Iterable[Written] = ()) -> frozenset[str]:
    """The slot terms of the message, the questions and their answers (module docstring)."""
    out = set(message.names)
    for w in (*questions, *answers):
        out |= w.names
    for a, b in combinations(questions, 2):
        if wording_twins(a.terms, b.terms):
            out |= a.terms ^ b.terms
    return frozenset(out)


def choose(message: str, questions: Sequence[str], scores: Sequence[float],
           answers: Sequence[str] = (), margin: float = MARGIN) -> Choice:
    """Which of ``questions`` (nearest first, with their cosine ``scores`` and curated
    ``answers``) is the question ``message`` asks; see the module docstring."""
    said = read(message)
    written = [read(q) for q in questions]
    slots = slot_terms(said, written, (read(a) for a in answers))
    qs = [w.terms for w in written]
    refused: Choice | None = None
    asked: frozenset[str] = frozenset()  # what the message named and the nearest lacked
    for i, q in enumerate(qs):
        twins = [qs[j] for j in range(len(qs)) if j != i
                 and (abs(scores[j] - scores[i]) <= margin or wording_twins(q, qs[j]))]
        verdict, foreign, missing = _verdict(said.terms, q, twins, slots)
        if verdict is None:
            if refused is None:
                return Choice(i, "agrees")
            if (q & asked) if asked else not missing:
                return Choice(i, "twin", refused.terms)
        elif refused is None:
            refused, asked = verdict, foreign
    return refused or Choice(None, "none")


def _verdict(m: frozenset[str], q: frozenset[str], twins: list[frozenset[str]],
             slots: frozenset[str]) -> tuple[Choice | None, frozenset[str], frozenset[str]]:
    """Why the question with terms ``q`` is not the message's (None: it agrees), with its
    ``foreign`` and ``missing`` slot terms."""
    foreign = (m - q) & slots
    missing = (q - m) & slots
    named = any(foreign & t and not (q - t) & slots & m for t in twins)
    if (foreign and missing) or named:
        return Choice(None, "contradicted", tuple(sorted(foreign | missing))), foreign, missing
    rivals = [own for t in twins if (q - t) & missing and (own := (t - q) & slots - m)]
    if missing and rivals:
        return (Choice(None, "ambiguous", tuple(sorted(missing.union(*rivals)))),
                foreign, missing)
    return None, foreign, missing


def same_question(message: str, question: str) -> bool:
    """Does ``message`` ask the FAQ ``question`` as far as their slot terms tell? (A pair alone:
    only the slot terms written in the two texts count.)"""
    return choose(message, [question], [1.0]).index == 0
