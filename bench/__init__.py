"""Benchmarks of mm-assistants against the loops users write by hand today.

``python -m bench.run [--quick] [--only NAME]`` runs them on the embedded sandbox over
loopback and writes ``bench/results/latest.json`` and ``latest.md``. Every figure is a
ratio or a count measured in the same run as its baseline (``bench/baselines``). See
`bench.harness` for how a benchmark is written and plugged in.
"""
