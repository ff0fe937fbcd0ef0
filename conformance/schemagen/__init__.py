"""Generates the schema data of the served kinds from upstream's API definitions (see `__main__`)."""
