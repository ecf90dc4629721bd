"""Reports derived from a RunResult: the JSON run report and the terminal summary."""
