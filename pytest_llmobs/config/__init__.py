"""The configuration both faces read, pure: options and their help (options), one value
checked by its kind (option_values), the [tool.llmobs] table (pyproject_table) and TOML
ini values (toml_ini), resolved into one Settings (settings), and configured names
checked against what a run measured (unmatched). Imports gate/ only, and nothing heavy:
a run without --llmobs reads it."""
