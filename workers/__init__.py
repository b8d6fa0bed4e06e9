"""Dramatiq workers: the actors, the per-process model cache and the process runner."""
