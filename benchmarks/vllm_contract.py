"""Contract check: every vLLM (and faiss GPU) name curate calls exists in the real wheel, as used.

    python benchmarks/vllm_contract.py                  # newest vllm pip sees, and faiss-gpu-cu12
    python benchmarks/vllm_contract.py --vllm 0.10.2    # an older release (GuidedDecodingParams era)

vLLM does not import without CUDA torch and its other dependencies, so nothing is installed: the
wheels are fetched with ``pip download --no-deps`` into .benchvenv-vllm/ (its own virtualenv, outside
``make test``), and their Python sources are read with ``ast``.

What curate uses is read from curate's own source, also with ``ast``, so the check follows the code:

* ``curate/llm/vllm.py``: every ``vllm.<name>``; every keyword of ``vllm.LLM(...)`` plus every
  field of ``VLLMOptions`` (which go to it as keywords): each must be a parameter of
  ``LLM.__init__`` or a field of ``EngineArgs`` (where ``LLM`` sends its ``**kwargs``), with a
  compatible type; every keyword of ``.chat(...)``; every key of the ``kw`` dict given to
  ``SamplingParams``; the structured-output class named in ``hasattr(sp_mod, ...)`` (one of them must
  exist) and the keys of the dict given to it; the attributes read from a request output
  (``out.<x>``) and a completion (``o.<x>``).
* ``curate/index/faiss_index.py``: every ``faiss.<name>`` / ``_faiss().<name>`` (the GPU ones
  included: StandardGpuResources, index_cpu_to_gpu, get_num_gpus, GpuParameterSpace).

Exit status 1 when anything is missing; the report lists each check.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".benchvenv-vllm"
WHEELS = VENV / "wheels"
BUILTIN_TYPES = {"int", "float", "bool", "str"}


# ------------------------------------------------------------ wheels
def pip() -> list[str]:
    py = VENV / "bin" / "python"
    if not py.exists():
        venv.create(VENV, with_pip=True)
    return [str(py), "-m", "pip"]


def newest(package: str) -> str:
    out = subprocess.run(pip() + ["index", "versions", package], capture_output=True, text=True, check=False).stdout
    m = re.search(rf"^{re.escape(package)} \(([^)]+)\)", out, re.MULTILINE)
    if not m:
        raise SystemExit(f"pip sees no versions of {package}: {out.strip() or 'no output'}")
    return m.group(1)


def wheel(package: str, version: str) -> zipfile.ZipFile:
    stem = package.replace("-", "_")
    found = sorted(WHEELS.glob(f"{stem}-{version}-*.whl"))
    if not found:
        WHEELS.mkdir(parents=True, exist_ok=True)
        subprocess.run(pip() + ["download", f"{package}=={version}", "--no-deps", "-d", str(WHEELS)], check=True)
        found = sorted(WHEELS.glob(f"{stem}-{version}-*.whl"))
    return zipfile.ZipFile(found[0])


def tree(z: zipfile.ZipFile, path: str) -> ast.Module:
    return ast.parse(z.read(path).decode("utf-8"))


def klass(mod: ast.Module, name: str) -> ast.ClassDef | None:
    return next((n for n in ast.walk(mod) if isinstance(n, ast.ClassDef) and n.name == name), None)


def fields(cls: ast.ClassDef) -> dict[str, str]:
    """Annotated class fields and ``self.x = ...`` of __init__ -> annotation text ('' if none)."""
    out = {n.target.id: ast.unparse(n.annotation) for n in cls.body
           if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    for f in cls.body:
        if isinstance(f, ast.FunctionDef) and f.name == "__init__":
            for st in ast.walk(f):
                targets = (st.targets if isinstance(st, ast.Assign)
                           else [st.target] if isinstance(st, ast.AnnAssign) else [])
                for t in targets:
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        out.setdefault(t.attr, "")
    return out


def params(cls: ast.ClassDef, method: str) -> tuple[dict[str, str], bool]:
    """Parameter name -> annotation text of cls.method, and whether it takes **kwargs."""
    f = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == method)
    a = f.args
    return ({p.arg: ast.unparse(p.annotation) if p.annotation else "" for p in a.args + a.kwonlyargs},
            a.kwarg is not None)


# ------------------------------------------------------------ what curate uses
def _calls(mod: ast.AST):
    return [n for n in ast.walk(mod) if isinstance(n, ast.Call)]


def _func(mod: ast.Module, name: str) -> ast.AST:
    return next(n for n in ast.walk(mod) if isinstance(n, ast.FunctionDef) and n.name == name)


def attrs_of(scope: ast.AST, var: str) -> set[str]:
    return {n.attr for n in ast.walk(scope)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == var}


def used_by_vllm_backend(path: Path) -> dict:
    mod = ast.parse(path.read_text(encoding="utf-8"))
    sp = _func(mod, "sampling_params")
    kw_keys = set()
    for n in ast.walk(sp):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call) and getattr(n.value.func, "id", "") == "dict":
            kw_keys |= {k.arg for k in n.value.keywords}
        if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store) and isinstance(n.slice, ast.Constant):
            kw_keys.add(n.slice.value)
    structured = [n.args[1].value for n in _calls(sp) if getattr(n.func, "id", "") == "hasattr"]
    want_keys = {k.value for n in ast.walk(sp) if isinstance(n, ast.Dict)
                 for k in n.keys if isinstance(k, ast.Constant)}
    engine_kw, chat_kw = set(), set()
    for c in _calls(mod):
        f = c.func
        if isinstance(f, ast.Attribute) and f.attr == "LLM" and getattr(f.value, "id", "") == "vllm":
            engine_kw |= {k.arg for k in c.keywords if k.arg}
        if isinstance(f, ast.Attribute) and f.attr == "chat":
            chat_kw |= {k.arg for k in c.keywords if k.arg}
    opts = klass(mod, "VLLMOptions")
    options = {n.target.id: ast.unparse(n.annotation) for n in opts.body if isinstance(n, ast.AnnAssign)}
    complete = _func(mod, "_complete")
    # importlib.import_module(vllm.__name__ + ".sub"): submodules imported by name
    submodules = {n.args[0].right.value.lstrip(".") for n in _calls(mod)
                  if getattr(n.func, "attr", "") == "import_module" and n.args and isinstance(n.args[0], ast.BinOp)
                  and isinstance(n.args[0].right, ast.Constant)}
    return dict(top=attrs_of(mod, "vllm") - {"__name__"}, submodules=submodules, sampling_kw=kw_keys,
                structured=structured,
                structured_keys=want_keys, engine_kw=engine_kw, options=options, chat_kw=chat_kw,
                request_output=attrs_of(complete, "out"), completion_output=attrs_of(complete, "o"))


def used_faiss_names(path: Path) -> set[str]:
    mod = ast.parse(path.read_text(encoding="utf-8"))
    out = attrs_of(mod, "faiss")
    out |= {n.attr for n in ast.walk(mod) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Call)
            and getattr(n.value.func, "id", "") == "_faiss"}
    return out


# ------------------------------------------------------------ checks
class Report:
    def __init__(self) -> None:
        self.failures = 0

    def check(self, ok: bool, what: str, detail: str = "") -> None:
        self.failures += not ok
        print(f"  [{'ok' if ok else 'MISSING'}] {what}" + (f"  ({detail})" if detail else ""))


def base_type(annotation: str) -> str | None:
    """'int | None' -> 'int'; 'Literal[...] | None' -> None (not a builtin)."""
    parts = [p.strip() for p in annotation.split("|") if p.strip() != "None"]
    return parts[0] if len(parts) == 1 and parts[0] in BUILTIN_TYPES else None


def types_agree(ours: str, theirs: str) -> bool:
    mine, yours = base_type(ours), [p.strip() for p in theirs.split("|")]
    if mine is None or not theirs or not any(p in BUILTIN_TYPES for p in yours):
        return True  # an alias or a Literal on either side: the name is checked, the type is not
    return mine in yours or (mine == "int" and "float" in yours)


def check_vllm(version: str, used: dict, r: Report) -> None:
    z = wheel("vllm", version)
    names = set(z.namelist())
    init = tree(z, "vllm/__init__.py")
    exported = {k.value for n in ast.walk(init) if isinstance(n, ast.Dict)
                for k in n.keys if isinstance(k, ast.Constant)}
    print(f"vllm {version} ({Path(z.filename).name})")
    for name in sorted(used["top"]):
        # a submodule read as an attribute exists only if something imported it first
        r.check(name in exported, f"vllm.{name}", "lazy export" if name in exported else
                "not exported" + (": a submodule, import it by name" if f"vllm/{name}.py" in names else ""))
    for name in sorted(used["submodules"]):
        r.check(f"vllm/{name}.py" in names, f"import vllm.{name}")
    llm_cls = klass(tree(z, "vllm/entrypoints/llm.py"), "LLM")
    init_params, takes_kwargs = params(llm_cls, "__init__")
    engine = fields(klass(tree(z, "vllm/engine/arg_utils.py"), "EngineArgs"))
    for name in sorted(used["engine_kw"] | set(used["options"])):
        theirs = init_params.get(name, engine.get(name) if takes_kwargs else None)
        where = "LLM.__init__" if name in init_params else "EngineArgs"
        ok = theirs is not None and types_agree(used["options"].get(name, ""), theirs)
        r.check(ok, f"vllm.LLM({name}=...)", f"{where}: {theirs}" if theirs is not None else "no such argument")
    chat, _ = params(llm_cls, "chat")
    for name in sorted(used["chat_kw"]):
        r.check(name in chat, f"LLM.chat({name}=...)", chat.get(name, "no such argument"))
    sp_mod = tree(z, "vllm/sampling_params.py")
    sampling = fields(klass(sp_mod, "SamplingParams"))
    for name in sorted(used["sampling_kw"]):
        present = name in sampling
        optional = name in ("structured_outputs", "guided_decoding")  # one per vLLM era
        if present or not optional:
            r.check(present, f"SamplingParams.{name}", sampling.get(name, "no such field"))
    present = [c for c in used["structured"] if klass(sp_mod, c)]
    r.check(bool(present), "structured output class: one of " + ", ".join(used["structured"]),
            "found " + ", ".join(present) if present else "none")
    for cname in present:
        cfields = fields(klass(sp_mod, cname))
        for key in sorted(used["structured_keys"]):
            r.check(key in cfields, f"{cname}({key}=...)", cfields.get(key, "no such field"))
        field = "structured_outputs" if cname == "StructuredOutputsParams" else "guided_decoding"
        r.check(cname in sampling.get(field, ""), f"SamplingParams.{field} takes {cname}", sampling.get(field, ""))
    outputs = tree(z, "vllm/outputs.py")
    for cname, key in (("RequestOutput", "request_output"), ("CompletionOutput", "completion_output")):
        cfields = fields(klass(outputs, cname))
        for name in sorted(used[key]):
            r.check(name in cfields, f"{cname}.{name}")


def check_faiss(version: str, used: set[str], r: Report) -> None:
    z = wheel("faiss-gpu-cu12", version)
    defined: set[str] = set()
    for path in z.namelist():
        if path.startswith("faiss/") and path.endswith(".py") and "/contrib/" not in path:
            for n in tree(z, path).body:
                if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                    defined.add(n.name)
                elif isinstance(n, ast.Assign):
                    defined |= {t.id for t in n.targets if isinstance(t, ast.Name)}
    print(f"faiss-gpu-cu12 {version} ({Path(z.filename).name})")
    for name in sorted(used):
        r.check(name in defined, f"faiss.{name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vllm", default=None, help="vllm version (default: the newest pip sees)")
    ap.add_argument("--faiss", default=None, help="faiss-gpu-cu12 version (default: the newest); 'skip' to skip")
    a = ap.parse_args()
    r = Report()
    check_vllm(a.vllm or newest("vllm"), used_by_vllm_backend(ROOT / "curate" / "llm" / "vllm.py"), r)
    if a.faiss != "skip":
        faiss_names = used_faiss_names(ROOT / "curate" / "index" / "faiss_index.py")
        check_faiss(a.faiss or newest("faiss-gpu-cu12"), faiss_names, r)
    print(f"{r.failures} missing" if r.failures else "every name curate uses is present")
    sys.exit(1 if r.failures else 0)


if __name__ == "__main__":
    main()
