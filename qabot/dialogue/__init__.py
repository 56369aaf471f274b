"""The dialogue: the engine's cascade (engine), its typed replies (replies), and the text logic
it uses: follow-ups, how-to steps, answer snippets and FAQ matching."""

from qabot.dialogue.engine import ChatEngine
from qabot.dialogue.replies import Reply, Source

__all__ = ["ChatEngine", "Reply", "Source"]
