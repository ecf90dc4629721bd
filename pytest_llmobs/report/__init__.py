"""What a run's result becomes for people and CI, pure: the result of a run and its
verdict (result), the run report (JSON), the terminal summary, JUnit XML, Markdown, the
HTML dashboard and the history file. Imports gate/ and analysis/."""
