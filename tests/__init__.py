"""Test suite (a package, so `from tests.helpers.x import ...` resolves to this folder with plain
`python -m pytest`)."""
