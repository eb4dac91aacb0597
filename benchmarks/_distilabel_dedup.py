"""Run by benchmarks/dedup.py inside .benchvenv-distilabel: distilabel's embedding generation +
FAISS nearest neighbours + embedding dedup on the texts in argv[1]; prints a JSON line of timings."""

import json
import sys
import time

from distilabel.models import SentenceTransformerEmbeddings
from distilabel.steps import EmbeddingDedup, FaissNearestNeighbour
from distilabel.steps.embeddings.embedding_generation import EmbeddingGeneration

texts = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")]
model_path, threshold, batch = sys.argv[2], float(sys.argv[3]), int(sys.argv[4])

t0 = time.perf_counter()
gen = EmbeddingGeneration(embeddings=SentenceTransformerEmbeddings(model=model_path, device="cpu"),
                          input_batch_size=batch)
gen.load()
load_s = time.perf_counter() - t0
t0 = time.perf_counter()
rows = []
for i in range(0, len(texts), batch):  # the pipeline feeds the step in input_batch_size batches
    rows += next(gen.process([{"text": t} for t in texts[i:i + batch]]))
embed_s = time.perf_counter() - t0
t1 = time.perf_counter()
nn = FaissNearestNeighbour(k=2)
nn.load()
rows = next(nn.process(rows))
dedup = EmbeddingDedup(threshold=threshold)
dedup.load()
rows = next(dedup.process(rows))
index_s = time.perf_counter() - t1
dups = sum(1 for r in rows if not r["keep_row_after_embedding_filtering"])
print(json.dumps({"load_s": load_s, "embed_s": embed_s, "index_dedup_s": index_s,
                  "total_s": embed_s + index_s, "duplicates": dups}))
