"""The ``argilla`` annotation store: routed pairs become records of an Argilla v2 dataset.

One task is one dataset (named after the task) in a workspace. Each record shows the conversation
(``prompt``, markdown) and the two responses as ``response_a`` / ``response_b``; annotators answer
the ``preference`` label question (A / B / tie), may write a ``rationale`` and, when the task has
criteria, tick them. ``distribution=TaskDistribution(min_submitted=overlap)`` tells Argilla how many
people should answer each record. A discarded response is a skip; drafts are ignored.

Argilla shows a record to every annotator in the same layout, so the A/B order is randomised per
*pair* (``a_is_for(task, pair, "argilla")``), not per annotator as in the SQLite store, and kept in
the record's hidden ``a_is`` metadata, which is what maps A/B back to chosen/rejected on pull.
The pair's model votes become one suggestion on ``preference``: the side their mean p_chosen
favours, with score = that mean's distance from a coin flip (max(p, 1-p)).

Records are keyed by pair id (Argilla's ``external_id``), so pushing a pair twice adds nothing.
An answer's id is a hash of (record id, user id), so pulling twice yields the same answers.
The API key is read from the environment variable named by ``api_key_env``; it is never stored
in config, written or logged.

Tested only against ``curate.testing.argilla_standin`` (a local stand-in for the REST endpoints the
SDK calls), never against a real Argilla server: see that module for why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from curate.annotate.store import AnnotationStore, Answer, a_is_for, label_of, model_votes_of
from curate.errors import BackendError, ConfigError, require
from curate.registry import STORES

log = logging.getLogger(__name__)

QUESTION = "preference"
LABELS = {"A": "Response A is better", "B": "Response B is better", "tie": "Both are equally good or bad"}
DEFAULT_GUIDELINES = ("Read the conversation, then choose the better final reply: A, B, or tie. "
                      "Discard the record if you cannot judge it.")
NAME = re.compile(r"^(?![-_])[a-zA-Z0-9_ -]{1,200}$")  # Argilla's dataset-name rule
ROLES = {"user": "User", "assistant": "Assistant", "system": "System"}
PAGE = 500


def render_prompt(messages: Sequence[dict]) -> str:
    """The conversation as markdown: one bold role heading per turn, turns separated by rules."""
    return "\n\n---\n\n".join(f"**{ROLES.get(m['role'], str(m['role']).title())}:**\n\n{m['content']}"
                              for m in messages)


def suggestion_of(votes: list[dict], a_is: str) -> tuple[str, float, str] | None:
    """(label in this record's A/B order, score, agent) for the model votes of a pair, or None."""
    ps = [float(v["p_chosen"]) for v in votes if v.get("p_chosen") is not None]
    if not ps:
        return None
    p = sum(ps) / len(ps)
    if p == 0.5:
        label = "tie"
    else:
        favoured = "chosen" if p > 0.5 else "rejected"
        label = "A" if favoured == a_is else "B"
    agent = "curate:" + ",".join(sorted({v["voter"] for v in votes}))
    return label, round(max(p, 1.0 - p), 6), agent[:200]


def answer_id(record_id: Any, user_id: Any) -> str:
    return hashlib.sha256(f"argilla:{record_id}:{user_id}".encode()).hexdigest()[:32]


@contextmanager
def _backend(what: str) -> Iterator[None]:
    """Turn SDK and HTTP failures into a BackendError that says what was being done."""
    import httpx
    from argilla._exceptions import ArgillaError

    try:
        yield
    except (ArgillaError, httpx.HTTPError) as e:
        raise BackendError(f"argilla store: {what} failed: {e}. Check that the server is up, the URL and "
                           "the API key are right, and the key's user is an owner or admin.") from e


class ArgillaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_url: str | None = Field(None, description="server URL (default $ARGILLA_API_URL)")
    api_key_env: str = Field("ARGILLA_API_KEY", description="environment variable holding the API key")
    workspace: str | None = Field(None, description="workspace for the datasets (default: the user's first)")
    timeout: int = Field(60, ge=1, description="seconds per HTTP request")
    retries: int = Field(3, ge=0, description="SDK retries per request")


@STORES.register("argilla")
class ArgillaStore(AnnotationStore):
    """Annotation store on an Argilla v2 server (``pip install 'curate[argilla]'``)."""

    name = "argilla"
    Options = ArgillaOptions

    def __init__(self, api_url: str | None = None, api_key_env: str = "ARGILLA_API_KEY",
                 workspace: str | None = None, timeout: int = 60, retries: int = 3):
        self.rg = require("argilla", "argilla", "the Argilla annotation store")
        url = api_url or os.environ.get("ARGILLA_API_URL")
        if not url:
            raise ConfigError("argilla store: no server URL; set `store.api_url` (or --api-url) or $ARGILLA_API_URL")
        key = os.environ.get(api_key_env)
        if not key:
            raise ConfigError(f"argilla store: ${api_key_env} is not set; export the API key of an owner/admin "
                              f"user there (keys are never read from config files)")
        with _backend(f"connecting to {url}"):
            self.client = self.rg.Argilla(api_url=url, api_key=key, timeout=timeout, retries=retries)
        self.url, self.workspace_name = url, workspace
        self._workspace: Any = None
        self._users: dict[str, str] = {}
        self.unreadable: Counter = Counter()  # responses that could not be mapped, by reason

    # ------------------------------------------------------------ lookups
    def _ws(self) -> Any:
        if self._workspace is None:
            with _backend("finding the workspace"):
                if self.workspace_name is None:
                    self._workspace = self.client.workspaces.default
                else:
                    model = self.client.api.workspaces.get_by_name(self.workspace_name)
                    ws = self.rg.Workspace(name=self.workspace_name, client=self.client)
                    self._workspace = ws.create() if model is None else ws.from_model(model, self.client)
        return self._workspace

    def _dataset(self, task: str, must: bool = True) -> Any:
        with _backend(f"finding dataset '{task}'"):
            model = self.client.api.datasets.get_by_name_and_workspace_id(task, self._ws().id)
            if model is None:
                if must:
                    raise ConfigError(f"argilla store: no dataset '{task}' in workspace '{self._ws().name}'; "
                                      f"create it with `curate annotate push --store argilla --task {task}`")
                return None
            return self.rg.Dataset.from_model(model, client=self.client).get()

    def _records(self, ds: Any, responses: bool = False) -> Iterator[Any]:
        """Every record model of the dataset, page by page (responses included if asked)."""
        offset = 0
        while True:
            with _backend(f"reading records of '{ds.name}'"):
                page = self.client.api.records.list(ds.id, offset=offset, limit=PAGE, with_suggestions=False,
                                                    with_responses=responses)
            yield from page
            if len(page) < PAGE:
                return
            offset += len(page)

    def _username(self, user_id: Any) -> str:
        if not self._users:
            with _backend("listing users"):
                self._users = {str(u.id): u.username for u in self.client.api.users.list()}
        return self._users.get(str(user_id), str(user_id))

    @staticmethod
    def _metadata(rec: Any) -> dict:
        return {m.name: m.value for m in rec.metadata or []}

    # ------------------------------------------------------------ the interface
    def create_task(self, task: str, guidelines: str = "", overlap: int = 1, criteria: Sequence[str] = ()) -> None:
        if overlap < 1:
            raise ConfigError(f"task '{task}': overlap must be >= 1, got {overlap}")
        if not NAME.match(task):
            raise ConfigError(f"task name {task!r} cannot name an Argilla dataset: use letters, digits, ' ', "
                              "'-' and '_', not starting with '-' or '_'")
        if self._dataset(task, must=False) is not None:
            return  # an existing task keeps its settings
        rg = self.rg
        questions = [rg.LabelQuestion(QUESTION, labels=LABELS, title="Which response is better?"),
                     rg.TextQuestion("rationale", title="Why? (optional)", required=False)]
        if criteria:
            questions.append(rg.MultiLabelQuestion("criteria", labels=list(criteria), required=False,
                                                   title="Which criteria decided it? (optional)"))
        settings = rg.Settings(
            guidelines=guidelines or DEFAULT_GUIDELINES,
            fields=[rg.TextField("prompt", title="Conversation", use_markdown=True),
                    rg.TextField("response_a", title="Response A", use_markdown=True),
                    rg.TextField("response_b", title="Response B", use_markdown=True)],
            questions=questions,
            # hidden: showing which side is the pair's chosen one would bias annotators
            metadata=[rg.TermsMetadataProperty("a_is", options=["chosen", "rejected"], visible_for_annotators=False)],
            distribution=rg.TaskDistribution(min_submitted=overlap))
        with _backend(f"creating dataset '{task}'"):
            rg.Dataset(name=task, workspace=self._ws(), settings=settings, client=self.client).create()

    def push_pairs(self, task: str, pairs: Iterable[dict]) -> int:
        ds = self._dataset(task)
        have = {str(r.external_id) for r in self._records(ds)}
        records = []
        for p in pairs:
            pid = str(p["id"])
            if pid in have:
                continue
            have.add(pid)
            records.append(self._record(task, p))
        if records:
            with _backend(f"pushing {len(records)} records to '{task}'"):
                ds.records.log(records, batch_size=min(PAGE, len(records)))
        return len(records)

    def _record(self, task: str, p: dict) -> Any:
        a_is = a_is_for(task, str(p["id"]), "argilla")
        a, b = (p["chosen"], p["rejected"]) if a_is == "chosen" else (p["rejected"], p["chosen"])
        sug = suggestion_of(model_votes_of(p), a_is)
        suggestions = [self.rg.Suggestion(QUESTION, sug[0], score=sug[1], agent=sug[2], type="model")] if sug else []
        return self.rg.Record(id=str(p["id"]), fields={"prompt": render_prompt(p["prompt"]), "response_a": a,
                                                       "response_b": b},
                              metadata={"a_is": a_is}, suggestions=suggestions)

    def pushed(self, task: str) -> dict[str, str]:
        out = {}
        for rec in self._records(self._dataset(task)):
            a_is = self._metadata(rec).get("a_is")
            if a_is in ("chosen", "rejected"):  # without it the record cannot be mapped (answers() counts it)
                out[str(rec.external_id)] = rec.fields["response_a" if a_is == "chosen" else "response_b"]
        return out

    def answers(self, task: str) -> list[Answer]:
        out = []
        for rec in self._records(self._dataset(task), responses=True):
            a_is = self._metadata(rec).get("a_is")
            for resp in rec.responses or []:
                a = self._answer(task, rec, a_is, resp)
                if a is not None:
                    out.append(a)
        return out

    def _answer(self, task: str, rec: Any, a_is: str | None, resp: Any) -> Answer | None:
        status = getattr(resp.status, "value", resp.status)
        if status == "draft":
            return None  # not an answer yet
        values = {k: (v or {}).get("value") for k, v in (resp.values or {}).items()}
        choice = "skip" if status == "discarded" else values.get(QUESTION)
        try:
            label = label_of(choice, a_is)
        except ValueError:
            # a record edited by hand (no a_is) or a question changed in the UI: count it, do not guess
            reason = "missing_a_is" if a_is not in ("chosen", "rejected") else "unknown_choice"
            self.unreadable[reason] += 1
            log.warning("argilla store: response of user %s on pair %s skipped (%s: choice %r)",
                        resp.user_id, rec.external_id, reason, choice)
            return None
        return Answer(answer_id=answer_id(rec.id, resp.user_id), task=task, pair_id=str(rec.external_id),
                      annotator=self._username(resp.user_id), choice=choice, a_is=a_is, label=label,
                      rationale=values.get("rationale") or "", criteria=list(values.get("criteria") or []))

    def progress(self, task: str) -> dict[str, Any]:
        ds = self._dataset(task)
        overlap = int(ds.distribution.min_submitted)
        items = sum(1 for _ in self._records(ds))
        answers = self.answers(task)
        per_pair = Counter(a.pair_id for a in answers if a.label != "skip")
        return {"task": task, "items": items, "overlap": overlap, "answers": len(answers),
                "complete": sum(1 for n in per_pair.values() if n >= overlap),
                "by_annotator": dict(sorted(Counter(a.annotator for a in answers).items()))}

    def close(self) -> None:
        self.client.http_client.close()
