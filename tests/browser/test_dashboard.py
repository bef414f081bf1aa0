#!/usr/bin/env python3
"""tests/browser/test_dashboard.py - the HTTP adapter's dashboard in a real
browser (Debian's chromium, headless, driven through chromium-driver by
python3-selenium).

Starts examples/web_progress (a job over items that reports progress every
10 items, cancelling allowed), opens the dashboard URL it prints (the cancel
token is in the fragment), and checks, as a user would see it:
  - with a wrong token in the URL, the cancel button's refusal (HTTP 401)
    is shown on the page, the job goes on, and the console has no error
    but the 401 itself;
  - with the right token, the job's row shows at least two different
    progress values;
  - its cancel button cancels it: it ends in the history as "cancelled"
    with reason "manual", and the program says so;
  - the browser's console has no error (a Content-Security-Policy
    violation would be one).
A screenshot of the page is saved at SHOT.

Usage: test_dashboard.py WEB_PROGRESS SHOT
Exit: 0 pass, 1 fail, 77 skip (selenium or chromium missing).
"""
import subprocess
import sys
import time

SKIP = 77


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def wait_until(what, fn, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = fn()
        except Exception:  # a row replaced while read: try again
            value = None
        if value:
            return value
        time.sleep(0.1)
    fail("timed out waiting for " + what)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    program, shot = sys.argv[1], sys.argv[2]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:
        print("SKIP: python3-selenium is not installed", file=sys.stderr)
        return SKIP
    import shutil
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        print("SKIP: chromium and chromium-driver are needed", file=sys.stderr)
        return SKIP

    job = subprocess.Popen(
        [program, "--items", "2000", "--delay", "0.02", "--allow-cancel",
         "--linger", "60"],
        stdout=subprocess.PIPE, text=True)
    driver = None
    try:
        line = job.stdout.readline().strip()
        if not line.startswith("dashboard: http://127.0.0.1:"):
            fail("unexpected first line: " + repr(line))
        url = line.split(" ", 1)[1]
        if "#token=" not in url:
            fail("no token in " + url)

        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-proxy-server",
                    "--window-size=1200,800"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path), options=opts)
        driver.set_page_load_timeout(30)

        # The table is redrawn on every event: read it in one script run.
        row_js = """
            const tr = [...document.querySelectorAll('#live tbody tr')]
              .find(r => (r.querySelector('td.name') || {}).textContent
                         === 'web-job');
            if (!tr) return null;
            const td = tr.querySelector('td.progress');
            return [td.dataset.value, td.textContent,
                    !!tr.querySelector('button.cancel')];
        """
        def click_cancel():
            # Found and clicked at once (a real click, through WebDriver).
            button = driver.execute_script("""
                const tr = [...document.querySelectorAll('#live tbody tr')]
                  .find(r => (r.querySelector('td.name') || {}).textContent
                             === 'web-job');
                return tr ? tr.querySelector('button.cancel') : null;
            """)
            if button is None:
                return False
            button.click()
            return True

        def severe():
            return [e for e in driver.get_log("browser")
                    if e.get("level") == "SEVERE"]

        # A wrong token: the refusal is on the page, not only in a console.
        driver.get(url.split("#", 1)[0] + "#token=wrong")
        wait_until("a click on the job's cancel button (wrong token)",
                   click_cancel)
        shown_error = wait_until("the refused cancel shown on the page",
                                 lambda: driver.execute_script("""
            const e = document.getElementById('error');
            return !e.hidden && e.textContent.includes('HTTP 401')
              ? e.textContent : null;
        """))
        if "bearer token" not in shown_error:
            fail("the error shown does not say why: " + repr(shown_error))
        others = [e for e in severe()
                  if "status of 401" not in e.get("message", "")]
        if others:
            fail("console errors with a wrong token: " + repr(others))
        if job.poll() is not None:
            fail("the job ended although its cancel was refused")

        # The right token (a new document: the fragment alone would not
        # reload the page).
        driver.get("about:blank")
        driver.get(url)
        seen, shown = set(), []

        def two_values():
            row = driver.execute_script(row_js)
            if row and row[0]:
                seen.add(row[0])
                shown.append(row[1])
            return len(seen) >= 2

        wait_until("two progress values in the job's row", two_values)
        if not any("%" in text for text in shown):
            fail("no percentage in the progress cell: " + repr(shown[-3:]))

        wait_until("a click on the job's cancel button", click_cancel)

        def cancelled_in_history():
            return driver.execute_script("""
                return [...document.querySelectorAll('#history tbody tr')]
                  .some(tr => [...tr.querySelectorAll('td')].slice(0, 3)
                    .map(td => td.textContent).join('|')
                    === 'web-job|cancelled|manual');
            """)

        wait_until("the job cancelled with reason manual in the history",
                   cancelled_in_history)
        end = job.stdout.readline().strip()
        if not end.startswith("job cancelled"):
            fail("the program says: " + repr(end))

        errors = severe()
        if errors:
            fail("console errors: " + repr(errors))
        driver.save_screenshot(shot)
        print("PASS: dashboard (progress values seen: %d; screenshot %s)"
              % (len(seen), shot))
        return 0
    finally:
        if driver is not None:
            driver.quit()
        job.kill()
        job.wait()


if __name__ == "__main__":
    sys.exit(main())
