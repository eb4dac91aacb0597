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


def test_every_error_is_public():
    # every exception curate defines lives in curate.errors and is exported at the top level
    import inspect

    from curate import errors

    defined = {n for n, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == errors.__name__}
    assert defined <= set(curate.__all__), sorted(defined - set(curate.__all__))
