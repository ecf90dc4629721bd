"""The `llmobs` command's parts below cli.py, pure: what it reads (inputs) and promoting a
saved run to the baseline (promote). Imports config/, gate/, analysis/ and report/."""
