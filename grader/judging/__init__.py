"""The trusted side of a check: pytest glue, comparison with diagnosis, expected data, training verdicts."""
