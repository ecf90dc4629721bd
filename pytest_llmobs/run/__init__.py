"""The pytest adapter: the session that captures, judges and reports a run, the llmobs
fixture, xdist's workers and controller, and what pytest read from the command line.
With plugin.py, the only code that imports pytest; it may import every other folder."""
