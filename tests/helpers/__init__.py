"""Helpers shared by test modules, imported one way: `from tests.helpers.<module> import ...`."""
