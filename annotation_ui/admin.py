"""Admin pages: tasks with progress and agreement, guidelines and overlap, annotators and assignment."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from annotation_ui.pages import page
from annotation_ui.security import admin_user, check_csrf, store_of
from curate.annotate.metrics import agreement_report
from curate.errors import ConfigError


def _overview(request: Request, user: dict, new_token: str = "", new_user: str = "") -> HTMLResponse:
    """The admin overview (tasks with progress, users); `new_token` is a one-time token to show once."""
    store = store_of(request)
    tasks = [store.progress(t) for t in store.tasks()]
    return page(request, "admin.html", user=user, tasks=tasks, users=store.users(), new_token=new_token,
                new_user=new_user)


def _task(request: Request, task: str) -> dict:
    try:
        return store_of(request).task(task)
    except ConfigError as e:
        raise HTTPException(404, "no such task") from e


def add_admin_routes(router: FastAPI) -> None:
    @router.get("/admin", response_class=HTMLResponse)
    def overview(request: Request, user: dict = Depends(admin_user)):
        return _overview(request, user)

    @router.post("/admin/users", dependencies=[Depends(check_csrf)], response_class=HTMLResponse)
    def add_user(request: Request, name: str = Form(..., max_length=64), role: str = Form("annotator"),
                 user: dict = Depends(admin_user)):
        try:
            token = store_of(request).add_user(name, role=role)
        except ConfigError as e:
            raise HTTPException(400, str(e)) from e
        # the one-time token is shown once, on this response only; it is never stored in clear
        return _overview(request, user, new_token=token, new_user=name)

    @router.post("/admin/users/{name}/reset", dependencies=[Depends(check_csrf)], response_class=HTMLResponse)
    def reset_user(request: Request, name: str, user: dict = Depends(admin_user)):
        try:
            token = store_of(request).reset_token(name)
        except ConfigError as e:
            raise HTTPException(404, str(e)) from e
        return _overview(request, user, new_token=token, new_user=name)

    @router.get("/admin/tasks/{task}", response_class=HTMLResponse)
    def task_page(request: Request, task: str, user: dict = Depends(admin_user)):
        store = store_of(request)
        t = _task(request, task)
        report = agreement_report(store.answers(task))
        return page(request, "admin_task.html", user=user, task=t, progress=store.progress(task), report=report,
                    members=store.members(task), users=[u["name"] for u in store.users()])


    @router.post("/admin/tasks/{task}/settings", dependencies=[Depends(check_csrf)])
    def settings(request: Request, task: str, guidelines: str = Form("", max_length=20000),
                 overlap: int = Form(..., ge=1, le=50), criteria: str = Form("", max_length=2000),
                 show_model_votes: str = Form(""), show_others: str = Form(""), user: dict = Depends(admin_user)):
        _task(request, task)
        store_of(request).update_task(
            task, guidelines=guidelines, overlap=overlap,
            criteria=[c.strip() for c in criteria.splitlines() if c.strip()],
            show_model_votes=int(show_model_votes == "on"), show_others=int(show_others == "on"))
        return RedirectResponse(f"/admin/tasks/{task}", status_code=303)

    @router.post("/admin/tasks/{task}/members", dependencies=[Depends(check_csrf)])
    def members(request: Request, task: str, name: str = Form(..., max_length=64), user: dict = Depends(admin_user)):
        _task(request, task)
        try:
            store_of(request).assign(task, [name])
        except ConfigError as e:
            raise HTTPException(400, str(e)) from e
        return RedirectResponse(f"/admin/tasks/{task}", status_code=303)
