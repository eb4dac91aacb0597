"""Templates, the page renderer and the response headers every page and error carries.

A leaf module (imports nothing from annotation_ui) so that app.py and admin.py both import from it
instead of from each other.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:
    """Render templates/`name` with `ctx`."""
    return templates.TemplateResponse(request, name, ctx, status_code=status)
