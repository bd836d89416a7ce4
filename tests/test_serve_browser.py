"""The web app in a real browser (system Chromium through chromium-driver): decide a group with the
keyboard, reload, and find the decisions in the database and on the page."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest
import uvicorn

from photocull.pipeline import ScanOptions, scan
from photocull.serve.app import create_app
from photocull.store.database import open_db
from photocull.store.export import photo_records

CHROMIUM = next((p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), "")
DRIVER = shutil.which("chromedriver") or ""
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Chromium and chromium-driver (apt-get install chromium chromium-driver)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(library, tmp_path):
    db_path = tmp_path / "browser.db"
    scan(open_db(db_path), [library.root], options=ScanOptions(workers=1))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(db_path, "127.0.0.1", port), port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", db_path
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1000"):
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path / 'chrome'}")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def test_decide_a_group_with_the_keyboard(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    url, db_path = server
    browser.get(url + "/")
    assert "0 of" in browser.find_element(By.CLASS_NAME, "progress").text
    browser.find_element(By.CSS_SELECTOR, ".groups a").click()
    frames = browser.find_elements(By.CLASS_NAME, "frame")
    assert len(frames) >= 2
    group_id = int(browser.find_element(By.TAG_NAME, "main").get_attribute("data-group"))
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("a")  # accept the suggestion for the whole group
    WebDriverWait(browser, 10).until(lambda b: all(f.get_attribute("data-decision") for f in frames))
    body.send_keys(Keys.ARROW_RIGHT, "k")  # then overrule it: keep the second frame
    second = frames[1].get_attribute("data-id")
    WebDriverWait(browser, 10).until(lambda b: frames[1].get_attribute("data-decision") == "keep")
    body.send_keys("z")  # undo that
    WebDriverWait(browser, 10).until(
        lambda b: (
            frames[1].get_attribute("data-decision") != "keep" or frames[1].get_attribute("data-suggestion") == "keep"
        )
    )

    db = open_db(db_path)
    stored = {r["id"]: r for r in photo_records(db) if r["group"] == group_id}
    assert all(r["decision"] == ("discard" if r["suggestion"] == "discard" else "keep") for r in stored.values())
    browser.refresh()
    again = browser.find_elements(By.CLASS_NAME, "frame")
    assert {f.get_attribute("data-id"): f.get_attribute("data-decision") for f in again} == {
        str(k): r["decision"] for k, r in stored.items()
    }
    assert all("decided" in f.get_attribute("class") for f in again)
    assert second in {f.get_attribute("data-id") for f in again}
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ENTER)  # the next group
    WebDriverWait(browser, 10).until(lambda b: b.current_url != f"{url}/groups/{group_id}")
    browser.get(url + "/")
    assert browser.find_element(By.CLASS_NAME, "progress").text.startswith("1 of")
