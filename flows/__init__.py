"""Prefect flows: thin orchestration over ``pipeline`` functions (see flows/README.md)."""
