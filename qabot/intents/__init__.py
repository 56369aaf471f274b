"""Intent routing: the intent-set file, the classifier, and the pure routing maths."""
