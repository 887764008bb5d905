"""Benchmarks of TraceGraph against the ways the same answers are usually computed.

``python -m benchmarks.run --size S|M|L|tiny`` (``make bench SIZE=...``): generates a genealogy
with the project's generator, loads it into every system, checks that all systems give the
same answers, then times them on the same probes and writes ``benchmarks/results/`` and the
table in ``BENCHMARKS.md``. Every figure that matters is a ratio measured in the same run.
"""
