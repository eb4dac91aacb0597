"""FAISS index: exact inner product (flat) while small, IVF or IVF-PQ once it reaches a threshold;
on GPU when faiss-gpu and a CUDA device are present (detected, never required).

Streaming and IVF: an IVF index must be trained before it can hold vectors, but a streaming
dedup does not know the data in advance. So the index starts flat (exact, no training) and, when
``ivf_threshold`` vectors have arrived, trains the IVF quantizer on those first vectors and moves
them over (ids are kept: rows stay in insertion order). Later vectors are added to the trained
index. With a threshold of tens of thousands the centroids cover the data well; below it the
search is exact.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from curate.errors import BackendError, ConfigError, require
from curate.index.base import VectorIndex
from curate.registry import INDEXES


def _faiss():
    return require("faiss", "models", "the faiss vector index")


def gpu_available() -> bool:
    faiss = _faiss()
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


@INDEXES.register("faiss")
class FaissIndex(VectorIndex):
    backend = "faiss"

    def __init__(self, dim: int, ivf_threshold: int = 50_000, nlist: int | None = None, nprobe: int = 16,
                 pq_m: int | None = None, device: Literal["auto", "cpu", "cuda"] = "auto", gpu_id: int = 0):
        super().__init__(dim)
        if pq_m is not None and dim % pq_m:
            raise ConfigError(f"faiss index: pq_m={pq_m} must divide the vector dimension {dim}")
        self.ivf_threshold, self.nlist, self.nprobe, self.pq_m = ivf_threshold, nlist, nprobe, pq_m
        # with nlist chosen automatically the index retrains (4·sqrt(N) lists) each time it has grown
        # REGROW-fold since the last training: a fixed list count makes every list, and so every
        # query, grow linearly with N, which turns a streaming dedup quadratic
        self.auto_nlist = nlist is None
        self.trained_on = 0
        self.gpu_id = gpu_id
        if device == "cuda" and not gpu_available():
            raise BackendError("faiss index: device 'cuda' asked for, but faiss has no GPU support or sees no GPU; "
                               "install faiss-gpu (pip install 'curate[gpu]') or use device: auto")
        self.on_gpu = device != "cpu" and gpu_available()
        self._res = None
        self.kind = "flat"
        self._index = self._to_device(_faiss().IndexFlatIP(dim))

    # ------------------------------------------------------------ device
    def _to_device(self, cpu_index: Any) -> Any:
        if not self.on_gpu:
            return cpu_index
        faiss = _faiss()
        if self._res is None:
            self._res = faiss.StandardGpuResources()
        return faiss.index_cpu_to_gpu(self._res, self.gpu_id, cpu_index)

    def _to_cpu(self) -> Any:
        return _faiss().index_gpu_to_cpu(self._index) if self.on_gpu else self._index

    # ------------------------------------------------------------ interface
    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    REGROW = 4

    def _add(self, vecs: np.ndarray) -> None:
        grown = self.ntotal + len(vecs)
        if self.kind == "flat" and grown >= self.ivf_threshold:
            self._switch_to_ivf(vecs)
        elif self.kind != "flat" and self.auto_nlist and grown >= self.REGROW * max(self.trained_on, 1):
            self._switch_to_ivf(vecs)  # amortised: the vectors re-added add up to a third of N
        else:
            self._index.add(vecs)

    def _search(self, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._index.search(vecs, k)

    def _switch_to_ivf(self, new: np.ndarray) -> None:
        """Train an IVF index on every vector seen so far plus `new`, then hold them all in it."""
        faiss = _faiss()
        source = self._to_cpu()
        if self.kind != "flat":  # IVF vectors can be read back only through a direct map (built here)
            faiss.extract_index_ivf(source).make_direct_map()
        old = source.reconstruct_n(0, self.ntotal) if self.ntotal else np.zeros((0, self.dim), np.float32)
        data = np.ascontiguousarray(np.concatenate([old, new]), dtype=np.float32)
        # ~4·sqrt(N) lists, and at least 39 training points per list (faiss warns below that)
        nlist = (self.nlist if not self.auto_nlist else None) or max(1, min(int(4 * math.sqrt(len(data))),
                                                                           len(data) // 39))
        cpu = self._empty_ivf(nlist)
        cpu.train(data)
        cpu.add(data)
        self._index = self._to_device(cpu)
        self.kind, self.nlist, self.trained_on = ("ivfpq" if self.pq_m else "ivf"), nlist, len(data)
        self._set_nprobe()

    def _empty_ivf(self, nlist: int) -> Any:
        faiss = _faiss()
        quantizer = faiss.IndexFlatIP(self.dim)
        if self.pq_m:
            ivf = faiss.IndexIVFPQ(quantizer, self.dim, nlist, self.pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        else:
            ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.own_fields = True
        quantizer.this.disown()  # the IVF index owns (and frees) its quantizer
        return ivf

    def _set_nprobe(self) -> None:
        if self.kind == "flat":
            return
        faiss = _faiss()
        n = min(self.nprobe, self.nlist or self.nprobe)
        if self.on_gpu:
            faiss.GpuParameterSpace().set_index_parameter(self._index, "nprobe", n)
        else:
            faiss.extract_index_ivf(self._index).nprobe = n

    # ------------------------------------------------------------ state
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        _faiss().write_index(self._to_cpu(), str(directory / "index.faiss"))
        (directory / "index.json").write_text(json.dumps({"kind": self.kind, "nlist": self.nlist, "dim": self.dim,
                                                          "trained_on": self.trained_on}))

    def load(self, directory: Path) -> None:
        directory = Path(directory)
        meta = json.loads((directory / "index.json").read_text())
        if meta["dim"] != self.dim:
            raise BackendError(f"saved faiss index in {directory} holds {meta['dim']}-d vectors, this run "
                               f"embeds {self.dim}-d ones; resume with the same embedding model")
        self._index = self._to_device(_faiss().read_index(str(directory / "index.faiss")))
        self.kind, self.nlist = meta["kind"], meta["nlist"]
        self.trained_on = meta.get("trained_on", self.ntotal)
        self._set_nprobe()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kind": self.kind, "nlist": self.nlist, "nprobe": self.nprobe,
                "device": "cuda" if self.on_gpu else "cpu"}
