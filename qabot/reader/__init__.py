"""The extractive reader: a BERT encoder with a span-prediction head over retrieved passages."""
