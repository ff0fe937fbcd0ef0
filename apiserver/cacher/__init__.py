"""The watch cache: one storage watch per resource, its state and history, and the watchers it feeds."""
