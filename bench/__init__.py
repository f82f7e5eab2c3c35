"""The scale benchmark: a data generator (``bench.generator``), a load driver (``bench.load``),
the hand-written SQL floors (``bench.floors``) and the report (``bench.report``).

``make bench-data`` fills a separate database (``meridian_bench``); ``make bench`` serves it with
gunicorn as in production and measures every page and endpoint the issue names.
"""
