"""Python steps used by tests/bench/bench.py: copied into each bench work folder, run as `benchsteps.<name>`."""
