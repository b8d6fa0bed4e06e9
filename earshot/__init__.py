"""The `earshot` command and the local stack it runs (the composition root of the project)."""
