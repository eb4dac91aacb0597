"""The public API in curate/__init__.py is complete and importable."""

import curate


def test_all_names_exist():
    for name in curate.__all__:
        assert hasattr(curate, name), name


def test_every_registered_step_describes_itself():
    from curate.registry import STEPS

    for name, cls in STEPS.items():
        d = cls.describe()
        assert d["name"] == name and d["summary"], f"step {name} needs a docstring summary"
