"""Load tests and benchmarks: each is a command that prints its numbers and writes them as JSON."""
