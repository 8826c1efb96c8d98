#!/usr/bin/env python3
"""End-to-end test of a node's web page in a real browser: headless Chromium from Debian's
packages driven by Selenium, with the driver's path given explicitly (nothing is downloaded).

Usage:
  browser-test.py --base http://127.0.0.1:PORT --nhs NHS --study UID --opted-out NHS2 --out DIR

The node at --base must list study UID (held at another trust, no local copy yet) for patient NHS,
and patient NHS2 must have opted out. The Swift test `BrowserTests` sets that up with real node
processes and runs this script; `Scripts/test` runs it as part of `swift test`.

Two sessions:
1. JavaScript on: invalid NHS number caught as you type; search; a fetch refused for want of a
   care relationship (the rule in plain words); a care relationship recorded from the page; a fetch
   with live progress to completion that survives a reload; the study's thumbnails; the
   prior-imaging alert; the operator and audit views; tablet width with no sideways scrolling.
2. JavaScript off: search, results, the server's message for an invalid number, the opted-out
   notice.

Screenshots go to --out (PNG, one per step). Prints a line per check; exits 1 on the first failure.
"""
import argparse
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

# Selenium Manager must never fetch a browser or driver: both paths are given, and it is told to stay offline.
os.environ.setdefault("SE_OFFLINE", "true")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


class Check:
    def __init__(self, out, prefix):
        self.out = out
        self.prefix = prefix
        self.count = 0

    def that(self, condition, message):
        if not condition:
            print(f"browser-test: FAILED: {message}", file=sys.stderr)
            raise SystemExit(1)
        print(f"ok {message}")

    def shot(self, driver, name):
        self.count += 1
        path = os.path.join(self.out, f"{self.prefix}-{self.count:02d}-{name}.png")
        driver.save_screenshot(path)


def browser(javascript):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--metrics-recording-only", "--no-default-browser-check"]:
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def wait(what, condition, timeout=60.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every)
    print(f"browser-test: FAILED: timed out waiting for {what}", file=sys.stderr)
    raise SystemExit(1)


def text(driver, selector):
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else ""


def with_javascript(args):
    check = Check(args.out, "js")
    driver = browser(javascript=True)
    try:
        base = args.base
        driver.get(base + "/")
        check.that("Find a patient's imaging" in driver.title or "Patient search" in driver.title, "home page loads")
        box = driver.find_element(By.ID, "nhs")
        check.that(driver.find_element(By.CSS_SELECTOR, "label[for=nhs]").text == "NHS number", "the field is labelled")

        # As you type: a wrong check digit is caught before anything is sent.
        box.send_keys("9434765918")
        check.that(box.get_attribute("value") == "943 476 5918", "digits are spaced 3-3-4 as typed")
        hint = wait("the as-you-type message", lambda: text(driver, "#nhs-hint"))
        check.that("not a valid NHS number" in hint, f"invalid number flagged as you type: {hint!r}")
        check.that(box.get_attribute("aria-invalid") == "true", "the field is marked invalid for assistive tech")
        check.shot(driver, "invalid-as-you-type")
        url = driver.current_url
        box.submit()
        time.sleep(0.3)
        check.that(driver.current_url == url, "an invalid number is not submitted")

        box = driver.find_element(By.ID, "nhs")
        box.clear()
        box.send_keys(args.nhs)
        check.that(text(driver, "#nhs-hint") == "", "a valid number clears the message")
        box.submit()
        wait("the results", lambda: driver.find_elements(By.ID, "studies"))
        row = driver.find_element(By.CSS_SELECTOR, f"tr[data-study='{args.study}']")
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        check.that(args.holder in cells[4], f"the holding trust and ODS code are shown: {cells[4]!r}")
        check.that(cells[6] == "No", "no local copy yet")
        check.that(cells[1] and cells[0], f"date and modality shown: {cells[0]!r} {cells[1]!r}")
        check.shot(driver, "results")

        # Fetch without a care relationship: refused, with the rule in plain words.
        row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        error = wait("the refusal", lambda: text(driver, "#error"))
        check.that("care relationship" in error and "Record a care relationship" in error,
                   f"refusal names the rule in plain words: {error!r}")
        check.shot(driver, "refused-no-care")

        # Record a care relationship from the page.
        driver.find_element(By.ID, "clinician").send_keys("Dr Ada Lovelace")
        driver.find_element(By.CSS_SELECTOR, "#kind option[value=outpatient]").click()
        driver.find_element(By.CSS_SELECTOR, "#care form, form[action='/care']").submit()
        notice = wait("the care notice", lambda: text(driver, "#notice"))
        check.that("recorded" in notice, f"care relationship recorded: {notice!r}")
        check.that("Dr Ada Lovelace" in text(driver, "#care-list"), "the care relationship is listed")
        check.shot(driver, "care-recorded")

        # Fetch with live progress to completion, without reloading the page.
        row = driver.find_element(By.CSS_SELECTOR, f"tr[data-study='{args.study}']")
        row.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        fetch = wait("the fetch box", lambda: driver.find_elements(By.CSS_SELECTOR, "[data-fetch-id]"))[0]
        fetch_id = fetch.get_attribute("data-fetch-id")
        driver.execute_script("window.__sameDocument = true;")
        states, statuses, shot_mid = [], [], False
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                box = driver.find_element(By.CSS_SELECTOR, f"[data-fetch-id='{fetch_id}']")
                state = box.get_attribute("data-state")
                status = box.find_element(By.CSS_SELECTOR, "[data-status]").text
            except (StaleElementReferenceException, NoSuchElementException):
                continue  # the script swapped in the server's final rendering of the box
            if not states or states[-1] != state:
                states.append(state)
            if status and (not statuses or statuses[-1] != status):
                statuses.append(status)
            if state == "transferring" and not shot_mid and "/s" in status:
                check.shot(driver, "fetch-in-progress")
                shot_mid = True
            if state in ("completed", "failed"):
                break
            time.sleep(0.05)
        check.that(states[-1] == "completed", f"the fetch completed (states seen: {states}; last: {statuses[-1:]})")
        if states[0] != "completed":
            check.that(driver.execute_script("return window.__sameDocument === true"),
                       "progress was updated live, without reloading the page")
        progress_lines = [s for s in statuses if " at " in s and "time left" in s]
        print(f"   progress texts seen: {len(progress_lines)} (e.g. {progress_lines[:1]})")
        bar = driver.find_element(By.CSS_SELECTOR, f"[data-fetch-id='{fetch_id}'] progress")
        check.that(bar.get_attribute("value") == bar.get_attribute("max"), "the progress bar is full")
        check.shot(driver, "fetch-complete")

        driver.refresh()
        box = wait("the fetch after a reload",
                   lambda: driver.find_elements(By.CSS_SELECTOR, f"[data-fetch-id='{fetch_id}']"))[0]
        check.that(box.get_attribute("data-state") == "completed", "the fetch is still shown after a reload")
        row = driver.find_element(By.CSS_SELECTOR, f"tr[data-study='{args.study}']")
        check.that(row.find_elements(By.TAG_NAME, "td")[6].text == "Yes", "the study now has a local copy")

        # The study viewer: series and thumbnails rendered by the node.
        box.find_element(By.LINK_TEXT, "View the study").click()
        images = wait("thumbnails", lambda: driver.find_elements(By.CSS_SELECTOR, ".series img"))
        wait("thumbnails to load", lambda: all(
            driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i) for i in images))
        check.that(len(images) > 0, f"{len(images)} thumbnails rendered")
        check.that(all(i.get_attribute("alt") for i in images), "every thumbnail has alternative text")
        check.that(driver.find_elements(By.CSS_SELECTOR, "h2[id^=series-]"), "the series are listed")
        check.shot(driver, "study-viewer")

        # The prior-imaging alert.
        driver.get(base + "/priors")
        driver.find_element(By.ID, "nhs").send_keys(args.nhs)
        driver.find_element(By.ID, "modality").send_keys("ct")
        driver.find_element(By.ID, "bodyPart").send_keys("chest")
        driver.find_element(By.ID, "months").clear()
        driver.find_element(By.ID, "months").send_keys("12")
        driver.find_element(By.ID, "modality").submit()
        alert = wait("the alert", lambda: text(driver, "#prior-alert"))
        check.that("1 comparable" in alert, f"the alert lists the comparable study: {alert!r}")
        check.that(driver.find_elements(By.CSS_SELECTOR, f"#priors tr[data-study='{args.study}']"),
                   "the comparable study is in the alert's table")
        check.shot(driver, "prior-alert")

        driver.get(base + "/operator")
        check.that(driver.find_elements(By.ID, "peers"), "operator view lists peers")
        check.that("saved by compression and deduplication" in text(driver, "#disk"), "disk use and savings shown")
        check.shot(driver, "operator")

        driver.get(base + "/audit?nhs=" + args.nhs)
        chain = text(driver, "#chain-status")
        check.that(chain.startswith("All "), f"the audit trail verifies: {chain!r}")
        rows = driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr")
        kinds = {r.find_elements(By.TAG_NAME, "td")[2].text for r in rows}
        check.that({"query", "careAdded", "fetchCompleted"} <= kinds, f"audit shows the patient's events: {sorted(kinds)}")
        check.shot(driver, "audit")

        # Tablet width: nothing scrolls sideways but the tables' own regions.
        driver.set_window_size(768, 1024)
        driver.get(base + "/patient?nhs=" + args.nhs)
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check.that(overflow <= 0, f"no sideways scrolling at tablet width (overflow {overflow}px)")
        check.shot(driver, "tablet")

        # Keyboard: the skip link is the first thing Tab reaches.
        driver.find_element(By.TAG_NAME, "body").send_keys("\t")
        active = driver.switch_to.active_element
        check.that(active.get_attribute("class") == "skip", "the first Tab reaches the skip link")
    finally:
        driver.quit()


def without_javascript(args):
    check = Check(args.out, "nojs")
    driver = browser(javascript=False)
    try:
        base = args.base
        driver.get(base + "/")
        box = driver.find_element(By.ID, "nhs")
        box.send_keys("9434765918")
        check.that(box.get_attribute("value") == "9434765918", "JavaScript is off (the number is not reformatted)")
        box.submit()
        message = wait("the server's message", lambda: text(driver, "#nhs-hint"))
        check.that("not a valid NHS number" in message and "check digit" in message,
                   f"server-side validation explains: {message!r}")
        check.shot(driver, "invalid")

        box = driver.find_element(By.ID, "nhs")
        box.clear()
        box.send_keys(args.nhs.replace(" ", ""))
        box.submit()
        wait("the results", lambda: driver.find_elements(By.ID, "studies"))
        row = driver.find_element(By.CSS_SELECTOR, f"tr[data-study='{args.study}']")
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        check.that(args.holder in cells[4], "results list the holding trust without JavaScript")
        check.that(args.nhs_spaced in driver.find_element(By.TAG_NAME, "h1").text, "the number is shown 3-3-4")
        check.shot(driver, "results")

        driver.get(base + "/patient?nhs=" + args.opted_out)
        notice = text(driver, "#opted-out")
        check.that("opted out" in notice, f"opted-out patient gets a notice: {notice!r}")
        check.that(not driver.find_elements(By.ID, "studies"), "and no results")
        check.shot(driver, "opted-out")

        driver.get(base + "/study?uid=1.2.3.4.5.6.7.8.9")
        check.that("not" in text(driver, ".notice") and "Traceback" not in driver.page_source,
                   "an unknown study gets a plain message")
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--nhs", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--holder", required=True)
    parser.add_argument("--opted-out", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    digits = "".join(c for c in args.nhs if c.isdigit())
    args.nhs_spaced = f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    os.makedirs(args.out, exist_ok=True)
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            print(f"browser-test: {path} is missing: run Scripts/setup (Debian's chromium and chromium-driver)",
                  file=sys.stderr)
            return 2
    with_javascript(args)
    without_javascript(args)
    print("browser-test: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
