"""The pytest adapter: the run's settings read off pytest's config, the session that
captures a run, decides its result and writes its outputs, where a run came from (its
git commit: provenance), the llmobs fixture, xdist's workers and controller, and what
pytest read from the command line. With plugin.py, the only code that imports pytest;
it may import every other folder but command/ (cli.py's)."""
