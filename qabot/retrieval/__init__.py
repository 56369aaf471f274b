"""Retrieval: the Retriever (dense, BM25 or hybrid search over an index), BM25, and rank fusion."""

from qabot.retrieval.retriever import IndexNotFoundError, Retriever

__all__ = ["IndexNotFoundError", "Retriever"]
