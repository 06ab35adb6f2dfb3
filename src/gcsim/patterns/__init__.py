"""The pattern suite: pre-registered patterns (scenarios/patterns/P*.yaml), run and scored.

``spec`` reads and checks pattern files; ``readouts`` turns one run's time series into numbers;
``scoring`` scores a check over replicates with a 95 % confidence interval; ``run`` simulates
the patterns' scenarios (resumable) and ``report`` writes scores.json, patterns.md and
patterns.html. docs/patterns.md, docs/decisions/0014-pattern-scoring.md.
"""
