"""The package layout the architecture promises: stand-ins under curate/testing, short modules."""

import importlib
import re
from pathlib import Path

import pytest

CURATE = Path(__file__).resolve().parents[1] / "curate"


@pytest.mark.parametrize("old", ["localserver.py", "llm/testserver.py", "export/hub_standin.py", "rm/tiny.py",
                                 "annotate/argilla_standin.py", "testing.py"])
def test_stand_ins_left_the_library_packages(old):
    # a file check, not find_spec: an editable install elsewhere could still answer for the old name
    assert not (CURATE / old).exists(), f"curate/{old} should live under curate/testing/"


@pytest.mark.parametrize("mod", ["curate.testing.llm_server", "curate.testing.argilla_standin",
                                 "curate.testing.argilla_state", "curate.testing.hub_standin",
                                 "curate.testing.localserver", "curate.testing.tiny_rm"])
def test_stand_ins_import_from_curate_testing(mod):
    importlib.import_module(mod)


def test_fakes_exported_beside_their_backends_and_by_curate_testing():
    from curate.embed import FakeEmbedder
    from curate.llm import FakeLLM
    from curate.testing import FakeEmbedder as TE, FakeLLM as TL, make_pairs

    assert (TE, TL) == (FakeEmbedder, FakeLLM)
    assert make_pairs(3).height == 3


def test_library_code_does_not_import_the_stand_ins():
    pattern = re.compile(r"^\s*(from|import)\s+curate\.testing", re.M)
    offenders = [str(p.relative_to(CURATE)) for p in CURATE.rglob("*.py")
                 if "testing" not in p.relative_to(CURATE).parts and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_no_module_over_400_lines():
    long = {str(p.relative_to(CURATE)): n for p in CURATE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_every_registering_module_is_in_the_catalog():
    from curate.catalog import MODULES

    pattern = re.compile(r"@(STEPS|FORMATS|LLMS|EMBEDDERS|INDEXES|STORES)\.register\(")
    registering = {".".join(p.relative_to(CURATE.parent).with_suffix("").parts) for p in CURATE.rglob("*.py")
                   if pattern.search(p.read_text(encoding="utf-8"))}
    assert registering - set(MODULES) == set(), "add these to curate/catalog.py MODULES"
