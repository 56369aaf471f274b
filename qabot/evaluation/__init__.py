"""End-to-end evaluation of the whole bot."""
