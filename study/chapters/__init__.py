"""The concept registry, chapter by chapter: each module's ``CONCEPTS`` are the rows of one or two chapters
of the book, each with its parity specification beside it (``study/spec.py``)."""
