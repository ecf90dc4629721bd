"""The analysis of a run, pure: span trees, where a regression's time went
(attribution), contextual alerts and the requests behind them (findings), and the
histograms the dashboard draws (distributions). Imports gate/ only."""
