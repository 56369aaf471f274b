"""Conversation history in SQL (SQLite by default, any SQLAlchemy URL)."""

from qabot.history.repository import History, HistoryError

__all__ = ["History", "HistoryError"]
