#!/usr/bin/env python3
"""End-to-end test of a node's web page in a real browser: headless Chromium from Debian's
packages driven by Selenium, with the driver's path given explicitly (nothing is downloaded).

Usage:
  browser-test.py --base http://127.0.0.1:PORT --issuer http://127.0.0.1:IDP --nhs NHS --study UID
                  --holder ODS --opted-out NHS2 --out DIR

The node at --base must list study UID (held at another trust, no local copy yet) for patient NHS,
patient NHS2 must have opted out, and the node must sign people in at the OpenID Connect provider
--issuer (Scripts/idp, whose test users are in Scripts/idp_provider.py: priya is a clinician, olu an
operator and ines information governance, all at the node's trust RKB; every password is
`password`). The Swift test `WebTests` sets that up with real node and provider processes and runs
this script; `Scripts/test` runs it as part of `swift test`.

Two sessions:
1. JavaScript on: the page sends the browser to the provider's own login page, where it signs in as
   the clinician (priya) and comes back to the page, which names her; invalid NHS number caught as
   you type; search; a fetch refused for want of a care relationship (the rule in plain words); a
   care relationship recorded from the page, with a reason, naming her; a fetch with live progress
   to completion that survives a reload; the study's thumbnails; the prior-imaging alert; the
   operator view refused to her naming the role it needs; tablet width with no sideways scrolling;
   signing out with the page's button, after which the page sends the browser back to the login
   page; then the operator view signed in as the operator (olu) and the audit trail, naming her,
   signed in as information governance (ines).
2. JavaScript off: signing in (the provider's form and the redirects need no script), search,
   results, the server's message for an invalid number, the opted-out notice.

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


def wait(what, condition, timeout=60.0, every=0.05, driver=None):
    """Polls `condition` until it holds; on timeout fails, saying where the browser is (`driver`)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every)
    where = ""
    if driver is not None:
        body = driver.find_elements(By.TAG_NAME, "body")
        where = f" (at {driver.current_url}: {body[0].text[:500] if body else ''!r})"
        try:  # the console says why a navigation was blocked (a Content-Security-Policy, say)
            where += "".join(f"\n   console: {entry['message']}" for entry in driver.get_log("browser"))
        except Exception:  # a driver without the log
            pass
    print(f"browser-test: FAILED: timed out waiting for {what}{where}", file=sys.stderr)
    raise SystemExit(1)


def text(driver, selector):
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else ""


PASSWORD = "password"  # every test user's (Scripts/idp_provider.py)


def at_login_page(driver, args):
    """The provider's own login form (not a page of the node's), or None."""
    if not driver.current_url.startswith(args.issuer + "/"):
        return None
    found = driver.find_elements(By.ID, "username")
    return found[0] if found else None


def sign_in(driver, check, args, user, expect_path):
    """At the provider's login page: signs `user` in through its form, and waits to be back on the
    node at `expect_path` (the page the sign-in was started from)."""
    wait("the provider's login page", lambda: at_login_page(driver, args), driver=driver)
    check.that(driver.find_element(By.ID, "password").get_attribute("type") == "password",
               f"the provider's login page asks for {user}'s password")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait(f"the node's page after {user} signs in",
         lambda: driver.current_url.startswith(args.base + expect_path) and driver.find_elements(By.ID, "main"),
         driver=driver)
    check.that(driver.get_cookie("trustmesh_session") is not None, f"{user} has a session cookie from the node")


def sign_out(driver, check, args):
    """Signs out with the page's own Sign out button; waits for the node's signed-out page."""
    driver.find_element(By.CSS_SELECTOR, "form.signout button[type=submit]").click()
    wait("the signed-out page", lambda: driver.current_url.startswith(args.base + "/auth/signed-out"), driver=driver)
    check.that("You are signed out" in driver.find_element(By.TAG_NAME, "body").text,
               "the node says the browser is signed out")
    check.that(driver.get_cookie("trustmesh_session") is None, "the session cookie is gone")


def with_javascript(args):
    check = Check(args.out, "js")
    driver = browser(javascript=True)
    try:
        base = args.base
        driver.get(base + "/")
        wait("the provider's login page", lambda: at_login_page(driver, args), driver=driver)
        check.that(not driver.find_elements(By.ID, "nhs"), "without signing in, the page shows nothing")
        check.shot(driver, "provider-login")
        sign_in(driver, check, args, "priya", "/")
        check.that("Find a patient's imaging" in driver.title or "Patient search" in driver.title, "home page loads")
        who = text(driver, ".who")
        check.that("Signed in as Dr Priya Shah" in who and "clinician" in who, f"the page names who is signed in: {who!r}")
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

        # Record a care relationship from the page: it names the signed-in clinician, not a typed name.
        check.that(not driver.find_elements(By.ID, "clinician"), "the care form has no clinician field")
        driver.find_element(By.CSS_SELECTOR, "#kind option[value=outpatient]").click()
        driver.find_element(By.ID, "reason").send_keys("Outpatient review of a chest CT from another trust")
        driver.find_element(By.ID, "reason").submit()
        notice = wait("the care notice", lambda: text(driver, "#notice"))
        check.that("recorded" in notice, f"care relationship recorded: {notice!r}")
        cares = text(driver, "#care-list")
        check.that("Outpatient" in cares and "Dr Priya Shah" in cares,
                   f"the care relationship is listed, naming the signed-in clinician: {cares!r}")
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

        # The operator view is not a clinician's: a page that says which role it needs.
        driver.get(base + "/operator")
        check.that(not driver.find_elements(By.ID, "peers"), "the operator view is not shown to a clinician")
        refusal = driver.find_element(By.TAG_NAME, "main").text
        check.that("needs the operator role" in refusal and "Dr Priya Shah" in refusal,
                   f"the refusal names the role needed: {refusal!r}")
        check.shot(driver, "operator-refused")

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
        driver.set_window_size(1280, 1000)

        # Still signed in as the clinician after all of that; then sign out with the page's button.
        who = text(driver, ".who")
        check.that("Signed in as Dr Priya Shah" in who, f"the page still names who is signed in: {who!r}")
        sign_out(driver, check, args)
        check.shot(driver, "signed-out")
        driver.get(base + "/patient?nhs=" + args.nhs)
        wait("the provider's login page after signing out", lambda: at_login_page(driver, args), driver=driver)
        check.that(not driver.find_elements(By.ID, "studies"), "signed out, the page sends the browser to sign in")

        # The operator, from the login page the node sent the browser to, comes back to the operator view.
        driver.get(base + "/operator")
        sign_in(driver, check, args, "olu", "/operator")
        check.that(driver.find_elements(By.ID, "peers"), "operator view lists peers")
        check.that("saved by compression and deduplication" in text(driver, "#disk"), "disk use and savings shown")
        check.that("Signed in as Olu Adeyemi" in text(driver, ".who"), "the operator is named")
        check.shot(driver, "operator")
        sign_out(driver, check, args)

        # Information governance: the audit trail names the clinician for what she did.
        driver.get(base + "/audit?nhs=" + args.nhs)
        sign_in(driver, check, args, "ines", "/audit")
        chain = text(driver, "#chain-status")
        check.that(chain.startswith("All "), f"the audit trail verifies: {chain!r}")
        rows = [[c.text for c in r.find_elements(By.TAG_NAME, "td")]
                for r in driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr")]
        kinds = {r[2] for r in rows}
        check.that({"query", "careAdded", "fetchCompleted"} <= kinds, f"audit shows the patient's events: {sorted(kinds)}")
        by = {r[3] for r in rows if r[2] in ("careAdded", "fetchCompleted")}
        check.that(by == {"Dr Priya Shah"}, f"the audit trail names the clinician for her care and fetch: {sorted(by)}")
        check.that(any(r[2] == "query" and r[3] == "Dr Priya Shah" for r in rows),
                   "and for her search (the test's own API polls name its test user)")
        check.shot(driver, "audit")
        sign_out(driver, check, args)
    finally:
        driver.quit()


def without_javascript(args):
    check = Check(args.out, "nojs")
    driver = browser(javascript=False)
    try:
        base = args.base
        driver.get(base + "/")
        sign_in(driver, check, args, "priya", "/")
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
    parser.add_argument("--issuer", required=True, help="the identity provider the node signs people in at")
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
