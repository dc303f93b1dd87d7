"""Keep pytest away from the corpus: it is graded, never run directly.

The submissions under ``submitted/`` are hostile on purpose (they kill
their kernel, exhaust memory, read and write files). The course's pytest
settings would run every notebook with nbval and import every module for
its doctests, outside any sandbox; ``tests/test_corpus.py`` grades them
inside the grader's sandbox instead. Never grade them with --unsafe.
Written by sample_class/make_corpus.py.
"""

collect_ignore_glob = ["submitted"]
