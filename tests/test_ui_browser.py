"""Headless Chromium (Debian's package, driven by Playwright) annotates pairs with the keyboard."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from curate.annotate.sqlite_throttle import USER_FREE
from tests.helpers.annotate import PASSWORD, ROOT, live_server, seeded_store

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_annotate_with_keyboard(browser, tmp_path):
    store = seeded_store(tmp_path / "a.db", n_items=5, annotators=("ann1",), overlap=1)
    admin_token = store.add_user("boss", role="admin")
    with live_server(tmp_path / "a.db") as (url, _, _):
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url + "/tasks/t1")
        assert page.url.endswith("/login")  # not logged in: sent to the login page
        page.fill("#username", "ann1")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url(url + "/tasks")
        page.click("text=t1")
        assert page.inner_text("#progress") == "answered 0 of 5"
        assert page.locator(".conversation .turn").count() == 3  # the multi-turn prompt
        page.screenshot(path=str(tmp_path / "annotator.png"), full_page=True)

        # 1st pair: tick a criterion, write a rationale, leave the text box with Esc, answer "A" with the key
        page.check("input[value=helpfulness]")
        page.fill("#rationale", "A answers the question")
        page.press("#rationale", "Escape")
        with page.expect_navigation():
            page.keyboard.press("1")
        assert page.inner_text("#progress") == "answered 1 of 5"
        for key, n in (("2", 2), ("t", 3), ("s", 4)):
            with page.expect_navigation():
                page.keyboard.press(key)
            assert page.inner_text("#progress") == f"answered {n} of 5"
        page.close()

        answers = store.answers("t1")
        assert [a.choice for a in answers] == ["A", "B", "tie", "skip"]
        assert answers[0].rationale == "A answers the question" and answers[0].criteria == ["helpfulness"]
        # what was pressed is mapped back to chosen/rejected through the order recorded per answer
        assert answers[0].label == answers[0].a_is
        assert answers[1].label == ("rejected" if answers[1].a_is == "chosen" else "chosen")

        # the admin logs in with the one-time token, sets a password and sees the progress move
        admin = browser.new_page()
        admin.goto(url + "/login")
        admin.fill("#username", "boss")
        admin.fill("#password", admin_token)
        admin.click("#login")
        admin.wait_for_url(url + "/password")
        admin.fill("#new", PASSWORD)
        admin.fill("#again", PASSWORD)
        admin.click("#save")
        admin.wait_for_url(url + "/admin")
        admin.click("text=t1")
        assert "3 of 5 items complete (4 answers, overlap 1)" in admin.inner_text("main")
        admin.close()

    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "annotator.png", artifacts / "annotator.png")
    # annotation_ui/screenshots/annotator.png is a committed copy for the docs; tests never write tracked files


def test_lockout_message_and_password_change(browser, tmp_path):
    store = seeded_store(tmp_path / "a.db", n_items=2, annotators=("ann1", "ann2"), overlap=1)
    with live_server(tmp_path / "a.db") as (url, _, _):
        page = browser.new_page()
        for _ in range(USER_FREE + 1):  # the last try is refused without checking the password
            page.goto(url + "/login")
            page.fill("#username", "ann1")
            page.fill("#password", "wrong-guess")
            page.click("#login")
        assert "too many failed logins" in page.inner_text(".error")

        page.goto(url + "/login")
        page.fill("#username", "ann2")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url(url + "/tasks")
        page.click("#change-password")
        page.wait_for_url(url + "/password")
        page.fill("#old", "not-my-password")
        page.fill("#new", PASSWORD + "!")
        page.fill("#again", PASSWORD + "!")
        page.click("#save")
        assert "current password is wrong" in page.inner_text(".error")
        page.fill("#old", PASSWORD)
        page.fill("#new", PASSWORD + "!")
        page.fill("#again", PASSWORD + "!")
        page.click("#save")
        page.wait_for_url(url + "/tasks")
        page.close()
    assert store.login("ann2", PASSWORD + "!") is not None
