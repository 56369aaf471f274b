"""qabot: a customer-support question-answering bot that runs on a laptop CPU."""

__version__ = "0.1.0"
