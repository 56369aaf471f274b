"""The lexical side of an index: the Unicode tokenizer BM25 reads passages and queries with.

Tokens: the text is NFKC-normalised and casefolded ("Straße" and "STRASSE" both give
"strasse"), then cut into runs of letters, digits and combining marks of any script. English
(ASCII) words lose their stop words and a light plural ending (-s, -es, -ies), so "refunds"
finds "refund"; an apostrophe's English clitic is dropped ("it's" -> "it"). Scripts written
without spaces between words (Han, Hiragana, Katakana) and Hangul, whose words carry attached
particles, give overlapping character bigrams, as Lucene's CJK analyzer does ("返金ポリシー" ->
"返金", "金ポ", "ポリ", ...; a lone character stays itself), so "返金" finds it.

A saved BM25 index (``indexer/bm25.py``) records ``TOKENIZER_VERSION``: bump it whenever
``tokenize`` or ``passage_text`` would give different terms for some text, so that indexes saved
with the old tokens are rebuilt instead of answering queries tokenized the new way.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

TOKENIZER_VERSION = 1  # bump on any change to the terms tokenize() or passage_text() give
STOP = frozenset("""a an and are as at be but by can could did do does for from had has have how
i if in into is it its me my of on or our so than that the their them then there these they this
to too up us was we were what when where which who why will with would you your""".split())
CLITICS = frozenset({"s", "t", "re", "ll", "ve", "d", "m"})  # it's, don't, we're, you'll, ...

# written in character bigrams: Hangul Jamo; the ideographic iteration/closing marks 々〆〇;
# Hiragana, Katakana; Bopomofo, Hangul compatibility Jamo; Katakana phonetic extensions; CJK
# ideographs (extension A, unified); Hangul Jamo extension A; Hangul syllables and Jamo
# extension B; CJK compatibility ideographs; half-width Katakana and Hangul; extensions B-G
_BIGRAM_RANGES = ("\u1100-\u11ff\u3005-\u3007\u3040-\u30ff\u3100-\u318f\u31f0-\u31ff"
                  "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
                  "\uff66-\uffdc\U00020000-\U0003134f")
_BIGRAM_RUNS = re.compile(rf"([{_BIGRAM_RANGES}]+)|([^\W_{_BIGRAM_RANGES}][^{_BIGRAM_RANGES}]*)")
_HAS_BIGRAM_SCRIPT = re.compile(rf"[{_BIGRAM_RANGES}]")


@functools.cache
def _words() -> re.Pattern[str]:
    """Runs of letters and digits of any script with the combining marks among them (Devanagari
    vowel signs, Arabic harakat: plain \\w would cut words there), and an optional apostrophe
    part. Built on first use (collecting the combining marks takes ~20 ms)."""
    marks = _char_class(c for c in range(0x20000)
                        if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me"))
    word = rf"[^\W_]+(?:[{marks}]+[^\W_]*)*"
    return re.compile(rf"{word}(?:['’]{word})?")


def _char_class(codepoints: Iterable[int]) -> str:
    ranges: list[list[int]] = []
    for c in codepoints:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)


def tokenize(text: str) -> list[str]:
    """BM25 terms of ``text`` (see the module docstring)."""
    out: list[str] = []
    for word in _words().findall(unicodedata.normalize("NFKC", text).casefold()):
        if word.isascii() and "'" not in word:  # the common case, inline
            if word not in STOP:
                out.append(_plural_stripped(word) if word[-1] == "s" else word)
        elif word.isascii() or not _HAS_BIGRAM_SCRIPT.search(word):
            _add_word(word, out)
        else:
            for run, rest in _BIGRAM_RUNS.findall(word):  # "iphoneの返金" -> iphone, の返, 返金
                if run:
                    out.extend(bigrams(run))
                else:
                    _add_word(rest, out)
    return out


def _add_word(word: str, out: list[str]) -> None:
    parts: tuple[str, ...] = (word,)
    if "'" in word or "’" in word:
        head, _, tail = word.replace("’", "'").partition("'")
        parts = (head,) if tail in CLITICS else (head, tail)
    for part in parts:
        if not part.isascii():
            out.append(part)
        elif part and part not in STOP:
            out.append(_plural_stripped(part))


def bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of ``run``; a single character is its own term."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def _plural_stripped(word: str) -> str:
    """An English word without its plural ending: refunds, boxes, policies."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def passage_text(title: str, headings: Iterable[str], text: str) -> str:
    """What BM25 indexes of a passage: its title, its headings and its text."""
    return f"{title} {' '.join(headings)} {text}"
