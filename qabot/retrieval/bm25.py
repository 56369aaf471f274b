"""BM25 over passages in any language: the Unicode tokenizer and the bm25s-backed index.

Both live in the indexer (``indexer/lexical.py``: the tokenizer; ``indexer/bm25.py``: the index
and its files in each index generation), which saves the index with every generation; these
names stay importable from here.
"""

from indexer.bm25 import BM25
from indexer.lexical import CLITICS, STOP, TOKENIZER_VERSION, bigrams, passage_text, tokenize

__all__ = ["BM25", "CLITICS", "STOP", "TOKENIZER_VERSION", "bigrams", "passage_text", "tokenize"]
