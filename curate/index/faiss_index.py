"""FAISS index: exact inner product (flat) while small, then IVF, IVF-PQ or HNSW once it reaches a
threshold; on GPU when faiss-gpu and a CUDA device are present (detected, never required).

``kind`` (``FaissOptions``) picks what the index becomes at ``ivf_threshold`` vectors:

* ``flat``: never leaves exact search (cost per query grows linearly with N).
* ``ivf`` (default, as before): IVF (or IVF-PQ with ``pq_m``), ~4·sqrt(N) lists retrained as it grows;
  cost per query grows like sqrt(N).
* ``hnsw``: an HNSW graph (``IndexHNSWFlat``, inner product); no training, vectors are added one by
  one, and a query visits O(log N) nodes, so the cost per query stays nearly flat in N. FAISS has no
  GPU HNSW, so on GPU ``hnsw`` builds an IVF whose lists are bounded (N/LIST_SIZE lists, regrown):
  the coarse search is a brute-force pass over the centroids, cheap on a GPU, and the list scan is
  bounded, so the cost per query stays nearly flat there too.
* ``compressed``: IVF with lists of bounded size (retrained as N grows; the lists found by an exact
  scan of the centroids, by an HNSW graph over them past ~12,000 lists),
  4-bit PQ and 4-bit scalar codes in memory and the exact vectors in float16 on disk, candidates
  re-ranked exactly (curate/index/faiss_compressed.py): cost per query flat in N, ~170 bytes of RAM
  per 256-d vector.
* ``auto``: on CPU, ``compressed`` from ``ivf_threshold`` on (benchmarks/index_recall.py: the same
  duplicate recall as HNSW, query cost flat, an eighth of its memory). On GPU: the bounded-list IVF.

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
from pydantic import BaseModel, ConfigDict, Field

from curate.errors import BackendError, ConfigError
from curate.index.base import VectorIndex
from curate.index.base import faiss_module as _faiss
from curate.index.faiss_compressed import CompressedIVF
from curate.index.vector_file import VectorFile
from curate.registry import INDEXES


def gpu_available() -> bool:
    faiss = _faiss()
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


Kind = Literal["flat", "ivf", "hnsw", "compressed", "auto"]


class FaissOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind = Field("ivf", description="what the index becomes at ivf_threshold: flat | ivf | hnsw | "
                                          "compressed | auto")
    ivf_threshold: int = Field(50_000, ge=1, description="exact flat search below this many vectors")
    nlist: int | None = Field(None, ge=1, description="ivf: lists (default ~4·sqrt(N), retrained as N grows)")
    nprobe: int | None = Field(None, ge=1, description="ivf, compressed: lists searched per query (recall vs "
                                                      "speed; default: ivf 16, compressed 8)")
    pq_m: int | None = Field(None, ge=1, description="ivf: IVF-PQ with this many sub-quantizers (must divide dim); "
                                                    "compressed: its 4-bit sub-quantizers (default dim/4)")
    refine: int = Field(8, ge=1, description="compressed: candidates per query re-scored with the exact vectors "
                                             "(the best of 64 by PQ code, re-ranked by 4-bit scalar codes)")
    threshold_candidates: int = Field(256, ge=0, description="compressed, searches with a threshold (semantic_dedup, "
                                      "decontaminate): PQ candidates kept for queries still undecided near it; "
                                      "64 or fewer: no wider look (faster, lower recall in crowds of near-copies)")
    hnsw_m: int = Field(32, ge=2, description="hnsw: graph neighbours per node (memory vs recall)")
    ef_construction: int = Field(80, ge=1, description="hnsw: candidates kept while inserting")
    ef_search: int = Field(64, ge=1, description="hnsw: candidates kept while searching (recall vs speed)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="GPU when faiss-gpu sees one (auto)")
    gpu_id: int = Field(0, ge=0, description="which GPU")


@INDEXES.register("faiss")
class FaissIndex(VectorIndex):
    backend = "faiss"
    Options = FaissOptions
    REGROW = 4
    LIST_SIZE = 256  # GPU "hnsw": lists are regrown to hold about this many vectors (at most REGROW times it)
    IVF_NPROBE = 16  # ivf: lists searched per query when nprobe is not given (compressed: CompressedIVF.NPROBE)

    def __init__(self, dim: int, kind: Kind = "ivf", ivf_threshold: int = 50_000, nlist: int | None = None,
                 nprobe: int | None = None, pq_m: int | None = None, refine: int = 8,
                 threshold_candidates: int = 256, hnsw_m: int = 32,
                 ef_construction: int = 80, ef_search: int = 64, device: Literal["auto", "cpu", "cuda"] = "auto",
                 gpu_id: int = 0):
        super().__init__(dim)
        if pq_m is not None and dim % pq_m:
            raise ConfigError(f"faiss index: pq_m={pq_m} must divide the vector dimension {dim}")
        self.ivf_threshold, self.nlist, self.nprobe, self.pq_m = ivf_threshold, nlist, nprobe, pq_m
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
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
        # auto: on CPU the compressed index; on GPU the bounded-list IVF (faiss has no GPU HNSW or fast-scan)
        self.target = ("hnsw" if self.on_gpu else "compressed") if kind == "auto" else kind
        if self.target == "compressed" and self.on_gpu:
            self.target = "hnsw"
        self.refine, self.threshold_candidates = refine, threshold_candidates
        # compressed: every vector also goes to a float16 file on disk from the first add, so the
        # compressed index can be trained, re-ranked and regrown without holding them in memory
        self.store = VectorFile(dim) if self.target == "compressed" else None
        self._compressed: CompressedIVF | None = None
        # on GPU, hnsw is an IVF with bounded lists (faiss has no GPU HNSW): list count follows N
        self.bounded_lists = self.target == "hnsw" and self.on_gpu
        if self.bounded_lists:
            self.auto_nlist = True
        self._res = None
        self.kind = "flat"
        self._index = self._to_device(_faiss().IndexFlatIP(dim))

    # ------------------------------------------------------------ device
    def _to_device(self, cpu_index: Any) -> Any:
        if not self.on_gpu or self.kind == "hnsw":
            return cpu_index
        faiss = _faiss()
        if self._res is None:
            self._res = faiss.StandardGpuResources()
        return faiss.index_cpu_to_gpu(self._res, self.gpu_id, cpu_index)

    def _to_cpu(self) -> Any:
        return _faiss().index_gpu_to_cpu(self._index) if self.on_gpu and self.kind != "hnsw" else self._index

    # ------------------------------------------------------------ interface
    @property
    def ntotal(self) -> int:
        return self._compressed.ntotal if self._compressed is not None else int(self._index.ntotal)

    def spill_to(self, directory: Path) -> None:
        if self.store is not None:
            self.store.spill_to(directory)

    def _add(self, vecs: np.ndarray) -> None:
        grown = self.ntotal + len(vecs)
        if self.store is not None:
            self.store.append(vecs)
        if self._compressed is not None:
            self._compressed.add(vecs)
        elif self.kind == "flat" and self.target != "flat" and grown >= self.ivf_threshold:
            if self.target == "compressed":
                self._switch_to_compressed()
            elif self.target == "hnsw" and not self.bounded_lists:
                self._switch_to_hnsw(vecs)
            else:
                self._switch_to_ivf(vecs)
        elif self.kind in ("ivf", "ivfpq") and self.auto_nlist and grown >= self.REGROW * max(self.trained_on, 1):
            self._switch_to_ivf(vecs)  # amortised: the vectors re-added add up to a third of N
        else:
            self._index.add(vecs)

    def _search(self, vecs: np.ndarray, k: int, floor: float | None) -> tuple[np.ndarray, np.ndarray]:
        if self._compressed is not None:
            return self._compressed.search(vecs, k, floor)
        return self._index.search(vecs, k)

    def _switch_to_compressed(self) -> None:
        """Train the compressed index on the stored vectors (the flat index's and the new) and drop the flat one."""
        self._compressed = self._new_compressed()
        self._compressed.build()
        self._index, self.kind = None, "compressed"

    def _new_compressed(self) -> CompressedIVF:
        """An empty compressed index over this index's vector file, with its options (switch and load)."""
        return CompressedIVF(self.dim, self.store, self.nprobe, self.refine, self.pq_m, self.threshold_candidates)

    def _all_vectors(self, new: np.ndarray) -> np.ndarray:
        """Every vector held so far (in id order) followed by `new`."""
        source = self._to_cpu()
        if self.kind in ("ivf", "ivfpq"):  # IVF vectors can be read back only through a direct map
            _faiss().extract_index_ivf(source).make_direct_map()
        old = source.reconstruct_n(0, self.ntotal) if self.ntotal else np.zeros((0, self.dim), np.float32)
        return np.ascontiguousarray(np.concatenate([old, new]), dtype=np.float32)

    def _switch_to_hnsw(self, new: np.ndarray) -> None:
        """Move the flat index's vectors, then `new`, into an HNSW graph (ids stay insertion order)."""
        data = self._all_vectors(new)
        hnsw = _faiss().IndexHNSWFlat(self.dim, self.hnsw_m, _faiss().METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.ef_construction
        hnsw.add(data)
        self._index, self.kind, self.trained_on = hnsw, "hnsw", len(data)
        self._set_search_params()

    def _switch_to_ivf(self, new: np.ndarray) -> None:
        """Train an IVF index on every vector seen so far plus `new`, then hold them all in it."""
        data = self._all_vectors(new)
        n = len(data)
        # ~4·sqrt(N) lists (or N/LIST_SIZE when lists are bounded), at least 39 training points per list
        # (faiss warns below that)
        auto = max(int(4 * math.sqrt(n)), n // self.LIST_SIZE if self.bounded_lists else 0)
        nlist = (self.nlist if not self.auto_nlist else None) or max(1, min(auto, n // 39))
        cpu = self._empty_ivf(nlist)
        cpu.train(data)
        cpu.add(data)
        self.kind = "ivfpq" if self.pq_m else "ivf"
        self._index = self._to_device(cpu)
        self.nlist, self.trained_on = nlist, n
        self._set_search_params()

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

    def _set_search_params(self) -> None:
        faiss = _faiss()
        if self.kind == "compressed":
            return  # CompressedIVF sets its own
        if self.kind == "hnsw":
            self._index.hnsw.efSearch = self.ef_search
        elif self.kind in ("ivf", "ivfpq"):
            nprobe = self.nprobe or self.IVF_NPROBE
            n = min(nprobe, self.nlist or nprobe)
            if self.on_gpu:
                faiss.GpuParameterSpace().set_index_parameter(self._index, "nprobe", n)
            else:
                faiss.extract_index_ivf(self._index).nprobe = n

    # ------------------------------------------------------------ state
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        if self._compressed is not None:
            self._compressed.save(directory)
        else:
            _faiss().write_index(self._to_cpu(), str(directory / "index.faiss"))
        if self.store is not None:
            self.store.save(directory)  # a hard link: the float16 vectors are not copied
        nlist, trained_on = self._lists()
        (directory / "index.json").write_text(json.dumps({"kind": self.kind, "nlist": nlist, "dim": self.dim,
                                                          "trained_on": trained_on}))

    def load(self, directory: Path) -> None:
        directory = Path(directory)
        meta = json.loads((directory / "index.json").read_text())
        if meta["dim"] != self.dim:
            raise BackendError(f"saved faiss index in {directory} holds {meta['dim']}-d vectors, this run "
                               f"embeds {self.dim}-d ones; resume with the same embedding model")
        self.kind, self.nlist = meta["kind"], meta["nlist"]
        if (directory / "vectors.json").exists():
            self.store = self.store or VectorFile(self.dim)
            self.store.load(directory)
        if self.kind == "compressed":
            self._compressed = self._new_compressed()
            self._compressed.load(directory)
            self._index = None
        else:
            self._compressed = None
            self._index = self._to_device(_faiss().read_index(str(directory / "index.faiss")))
        self.trained_on = meta.get("trained_on", self.ntotal)
        self._set_search_params()

    def _lists(self) -> tuple[int | None, int]:
        """(list count, vectors at the last training): the compressed index keeps its own, as it regrows."""
        if self._compressed is not None:
            return self._compressed.nlist, self._compressed.trained_on
        return self.nlist, self.trained_on

    def describe(self) -> dict[str, Any]:
        nprobe = self._compressed.nprobe if self._compressed is not None else self.nprobe or self.IVF_NPROBE
        return {**super().describe(), "kind": self.kind, "target": self.target, "nlist": self._lists()[0],
                "nprobe": nprobe, "device": "cuda" if self.on_gpu and self.kind != "hnsw" else "cpu"}
