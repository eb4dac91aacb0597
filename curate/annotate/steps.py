"""Steps that send routed pairs to people and bring their answers back as human votes.

``route_to_humans`` pushes the rows the ensemble marked ``decision == "route"`` to an annotation
store (idempotent by pair id) and passes every row on. ``human_votes`` reads the store's answers
and appends **one vote per annotator answer** (``voter = "human:<name>"``, ``kind = "human"``):
chosen won → p_chosen 1.0, rejected won → 0.0, tie → 0.5, skip → no vote. The A/B order each
annotator saw is mapped back through the order recorded with the answer. Human votes from an
earlier pull are replaced, not added again, so pulling twice gives the same rows. Re-run the
ensemble step after ``human_votes`` to re-aggregate.
"""

from __future__ import annotations

from collections import defaultdict

import polars as pl
from pydantic import Field

from curate.annotate.store import AnnotationStore, Answer, StoreConfig
from curate.context import RunContext
from curate.registry import STEPS
from curate.schema import VOTE, VoteKind, dumps
from curate.step import Options, Step

P_CHOSEN = {"chosen": 1.0, "rejected": 0.0, "tie": 0.5}
HUMAN_PREFIX = "human:"


class RouteOptions(Options):
    task: str = Field(description="annotation task name (created if absent)")
    store: StoreConfig = Field(default_factory=StoreConfig, description="which annotation store to use")
    overlap: int = Field(1, ge=1, description="annotators per pair (used when the task is created)")
    guidelines: str = Field("", description="annotation guidelines (used when the task is created)")
    criteria: list[str] = Field(default_factory=list, description="rubric criteria annotators can tick")
    decision_column: str = Field("decision", description="column holding keep/flip/drop/route")


@STEPS.register()
class RouteToHumans(Step):
    """Push pairs whose decision is ``route`` to an annotation store; every row passes through.

    Reads: id, prompt, chosen, rejected, votes, decision. Writes: ``human_status`` ("routed" for
    the pushed rows, unchanged otherwise). Counts ``routed``, ``pushed_new``, ``already_in_store``.
    """

    name = "route_to_humans"
    inputs = ("id", "prompt", "chosen", "rejected", "votes", "decision")
    outputs = ("human_status",)
    Options = RouteOptions

    def setup(self, ctx: RunContext) -> None:
        o = self.options
        self.store: AnnotationStore = o.store.open()
        self.store.create_task(o.task, guidelines=o.guidelines, overlap=o.overlap, criteria=o.criteria)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "store"):
            self.setup(None)  # type: ignore[arg-type]  # used outside a runner
        mask = batch.get_column(self.options.decision_column) == "route"
        routed = batch.filter(mask)
        if routed.height:
            new = self.store.push_pairs(self.options.task, routed.select(
                "id", "prompt", "chosen", "rejected", "votes").iter_rows(named=True))
            self.stats.count("routed", routed.height)
            self.stats.count("pushed_new", new)
            self.stats.count("already_in_store", routed.height - new)
        old = pl.col("human_status") if "human_status" in batch.columns else pl.lit(None, dtype=pl.Utf8)
        return batch.with_columns(pl.when(pl.lit(mask)).then(pl.lit("routed")).otherwise(old).alias("human_status"))

    def summary(self) -> dict:
        c = self.stats.counts
        return {"route_rate": c["routed"] / self.stats.records_in} if self.stats.records_in else {}

    def close(self) -> None:
        if hasattr(self, "store"):
            self.store.close()


class PullOptions(Options):
    task: str = Field(description="annotation task name")
    store: StoreConfig = Field(default_factory=StoreConfig, description="which annotation store to use")


def human_vote(a: Answer, flipped: bool = False) -> dict:
    raw = {"answer_id": a.answer_id, "task": a.task, "choice": a.choice, "a_is": a.a_is, "label": a.label,
           "rationale": a.rationale, "criteria": a.criteria}
    p = P_CHOSEN[a.label]
    return {"voter": HUMAN_PREFIX + a.annotator, "kind": VoteKind.HUMAN, "p_chosen": 1.0 - p if flipped else p,
            "margin": None, "raw": dumps(raw), "family": HUMAN_PREFIX + a.annotator}


@STEPS.register()
class HumanVotes(Step):
    """Append the store's submitted answers as human votes and mark pairs still waiting for people.

    Reads: id, chosen (to orient votes if the ensemble flipped the pair after the push), votes.
    Writes: votes (one ``kind="human"`` vote per non-skip answer, replacing those of an earlier pull), ``human_status`` ("done" when the pair has ``overlap`` non-skip answers,
    "waiting" when it is in the store with fewer, unchanged for pairs never routed) and
    ``human_answers`` (non-skip answers). Counts ``human_votes``, ``skips``, ``pairs_done``,
    ``pairs_waiting``.
    """

    name = "human_votes"
    inputs = ("id", "chosen", "votes")
    outputs = ("votes", "human_status", "human_answers")
    Options = PullOptions

    def setup(self, ctx: RunContext | None) -> None:
        store = self.options.store.open()
        try:
            task = self.options.task
            self.overlap = int(store.progress(task)["overlap"])
            self.in_store = store.pushed(task)
            self.by_pair: dict[str, list[Answer]] = defaultdict(list)
            for a in store.answers(task):
                self.by_pair[a.pair_id].append(a)
        finally:
            store.close()

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "by_pair"):
            self.setup(None)
        new_votes, status, counts = [], [], []
        for pid, chosen in batch.select("id", "chosen").iter_rows():
            answers = self.by_pair.get(pid, [])
            # the ensemble may have flipped the pair since it was pushed: orient votes to the row as it is
            flipped = pid in self.in_store and chosen != self.in_store[pid]
            votes = [human_vote(a, flipped) for a in answers if a.label != "skip"]
            self.stats.count("skips", len(answers) - len(votes))
            self.stats.count("human_votes", len(votes))
            new_votes.append(votes)
            counts.append(len(votes))
            if pid not in self.in_store:
                status.append(None)
            else:
                status.append("done" if len(votes) >= self.overlap else "waiting")
                self.stats.count("pairs_" + status[-1])
        old_status = pl.col("human_status") if "human_status" in batch.columns else pl.lit(None, dtype=pl.Utf8)
        # drop human votes of an earlier pull so that pulling again is idempotent
        kept = pl.col("votes").list.eval(
            pl.element().filter(~pl.element().struct.field("voter").str.starts_with(HUMAN_PREFIX)))
        return batch.with_columns(
            pl.concat_list([kept, pl.Series(new_votes, dtype=pl.List(VOTE))]).alias("votes"),
            pl.coalesce(pl.Series(status, dtype=pl.Utf8), old_status).alias("human_status"),
            pl.Series(counts, dtype=pl.Int64).alias("human_answers"),
        )

    def summary(self) -> dict:
        c = self.stats.counts
        routed = c["pairs_done"] + c["pairs_waiting"]
        return {"waiting_rate": c["pairs_waiting"] / routed} if routed else {}
