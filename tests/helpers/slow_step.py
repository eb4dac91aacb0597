"""A deliberately slow step for kill-and-resume tests (imported by `step: python`)."""

import time


def slow(batch):
    time.sleep(0.15)
    return batch.with_columns(batch["chosen"].str.len_chars().alias("chosen_chars"))


def slower_on_ray(batch):
    """Like ``slow`` but slower (0.3 s a batch), and, under Ray with ``$CURATE_TEST_NODE_DIR`` set,
    leaves a file named after the node it ran on, so a test can see that both nodes worked."""
    import os
    from pathlib import Path

    time.sleep(0.3)
    marks = os.environ.get("CURATE_TEST_NODE_DIR")
    if marks:
        import ray

        if ray.is_initialized():
            Path(marks, ray.get_runtime_context().get_node_id()).touch()
    return batch.with_columns(batch["chosen"].str.len_chars().alias("chosen_chars"))
