"""The dashboard in a real browser (Debian's chromium through chromedriver and Selenium).

    python3 tests/browser/test_dashboard.py RCTGATE_BINARY [SCREENSHOT_DIR]

Writes the demo (`rctgate demo`) to a new database, serves it, logs in through the form with
the key the demo printed, opens the experiment list, an experiment, a model and the
portfolio, checks that the verdicts and charts are there and that no NaN is shown, checks
the session cookie and the phone layout, starts and stops a trial with the page's buttons
(the stop through its confirmation step), checks that a read-only session sees no buttons
and that revoking its key logs it out, and saves a screenshot of every page.
"""

import json
import os
import re
import subprocess
import urllib.request
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BINARY = sys.argv[1]
SHOTS = Path(sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="rctgate-shots-"))
SHOTS.mkdir(parents=True, exist_ok=True)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    work = Path(tempfile.mkdtemp(prefix="rctgate-browser-"))
    db = work / "demo.duckdb"
    demo = subprocess.run([BINARY, "demo", "--db", str(db)], capture_output=True, text=True, check=True)
    key = demo.stdout.strip().splitlines()[-1]
    check(key.startswith("rctg_"), f"the demo's last line is the key: {demo.stdout}")
    check("refused by the gate" in demo.stdout, demo.stdout)

    server = subprocess.Popen(
        [BINARY, "serve", "--db", str(db), "--addr", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = None
        for line in server.stdout:
            if line.startswith("rctgate listening on "):
                url = line.split("rctgate listening on ", 1)[1].strip()
                break
        check(url, "the server announced its address")
        run_browser(url, key)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"browser test passed; screenshots in {SHOTS}")


def page_ok(driver, name):
    source = driver.page_source
    check("NaN" not in source, f"{name} shows NaN")
    check("inf" not in re.sub(r"<[^>]+>", " ", source).split(), f"{name} shows inf")
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    return source


def run_browser(url, key):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        # No data without a session: the list redirects to the login form.
        driver.get(f"{url}/experiments")
        check(driver.current_url.endswith("/login"), f"redirected to login, at {driver.current_url}")
        check("ranker-v7" not in driver.page_source, "no data before login")
        driver.find_element(By.ID, "key").send_keys("rctg_not_a_key")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 15).until(lambda d: "not valid" in d.page_source)
        driver.find_element(By.ID, "key").send_keys(key)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/experiments"))
        check(key not in driver.current_url, "the key is never in a URL")
        cookie = driver.get_cookie("rctgate_session")
        check(cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", f"session cookie {cookie}")

        source = page_ok(driver, "experiments")
        for text in ("ranker-v7", "ranker-v8", "assistant-prompt-v2", "no ship", "ship", "SRM ok"):
            check(text in source, f"the list shows {text}")

        driver.get(f"{url}/experiments/ranker-v7")
        source = page_ok(driver, "experiment-ranker-v7")
        verdict = driver.find_element(By.CSS_SELECTOR, "section.verdict").text
        check("no ship" in verdict, f"v7's verdict: {verdict}")
        check(len(driver.find_elements(By.CSS_SELECTOR, "svg")) >= 2, "forest plot and cumulative chart")
        check(len(driver.find_elements(By.CSS_SELECTOR, "svg circle")) >= 4, "the forest plot has its points")
        check(len(driver.find_elements(By.CSS_SELECTOR, "svg polyline")) >= 1, "the cumulative line is drawn")
        for text in ("proxy_over_optimization", "Hypothesis", "Segments by device", "Data quality", "SRM",
                     "Model latency per request", "Model outputs", "output_spike", "p95_latency"):
            check(text in source, f"the experiment page shows {text}")
        outputs = driver.find_element(By.CSS_SELECTOR, "section[aria-label='model outputs']")
        check(len(outputs.find_elements(By.CSS_SELECTOR, "svg polyline")) >= 2, "one output line per arm")
        check("spike" in outputs.text and "bimodal" in outputs.text, f"the shapes: {outputs.text}")
        latency = driver.find_element(By.CSS_SELECTOR, "section[aria-label='model latency']")
        check(len(latency.find_elements(By.CSS_SELECTOR, "tbody tr")) == 2, "a latency row per arm")

        driver.get(f"{url}/experiments/ranker-v8")
        check("ship" in driver.find_element(By.CSS_SELECTOR, "section.verdict").text, "v8 shipped")
        page_ok(driver, "experiment-ranker-v8")

        # The disagreement design: its contrasts, the trigger (disagreement) rates.
        driver.get(f"{url}/experiments/ranker-v9-disagreement")
        page_ok(driver, "experiment-ranker-v9-disagreement")
        contrasts = driver.find_element(By.CSS_SELECTOR, "section[aria-label='design contrasts']")
        headings = [h.text for h in contrasts.find_elements(By.CSS_SELECTOR, "h3")]
        check(len(headings) == 3 and "decides the verdict" in headings[0], f"the contrasts: {headings}")
        check(len(contrasts.find_elements(By.CSS_SELECTOR, "tbody tr")) >= 6, "each contrast's scorecard rows")
        triggers = driver.find_element(By.CSS_SELECTOR, "section[aria-label='triggers']")
        check(len(triggers.find_elements(By.CSS_SELECTOR, "tbody tr")) == 3, "a trigger row per arm")
        check("not marked" in triggers.text and "%" in triggers.text, f"the trigger rates: {triggers.text}")
        novelty = driver.find_element(By.CSS_SELECTOR, "section[aria-label='novelty']")
        check(novelty.is_displayed() and "days since first exposure" in novelty.text, "the novelty split")
        valley = driver.find_element(By.CSS_SELECTOR, "section[aria-label='effect by model confidence']")
        check(len(valley.find_elements(By.CSS_SELECTOR, "svg circle")) >= 5, "a point per confidence decile")
        check(len(valley.find_elements(By.CSS_SELECTOR, "tbody tr")) == 10, "a row per decile")

        driver.get(f"{url}/models/hotel-ranker")
        source = page_ok(driver, "model-hotel-ranker")
        check("Production: <strong>v8</strong>" in source, "v8 is production")
        check("ranker-v8" in source and "trial" in source, "the promotion shows its evidence")
        alerts = driver.find_element(By.CSS_SELECTOR, "section[aria-label='alerts']")
        check(alerts.is_displayed() and "lift_decayed" in alerts.text, f"the fading launch's alert: {alerts.text}")
        holdout = driver.find_element(By.CSS_SELECTOR, "section[aria-label='holdout']")
        check("hotel-ranker-v8-holdout" in holdout.text and "20% of units stay on v1" in holdout.text,
              f"the holdout: {holdout.text[:300]}")
        check(len(holdout.find_elements(By.CSS_SELECTOR, "svg polygon")) >= 1, "the holdout's interval band")
        timeline = driver.find_element(By.CSS_SELECTOR, "section[aria-label='value timeline']")
        check("value_saturation" in timeline.text, f"the saturated ranker: {timeline.text[:300]}")
        check(len(timeline.find_elements(By.CSS_SELECTOR, "svg circle")) >= 8, "a point per trial on the timeline")
        check("v11" in timeline.text and "compounded lift" in timeline.text, "the timeline table and the compounded lift")
        driver.get(f"{url}/models/support-assistant")
        source = page_ok(driver, "model-support-assistant")
        check("promoted without RCT evidence" in source, "the override stays flagged")

        driver.get(f"{url}/portfolio")
        source = page_ok(driver, "portfolio")
        check("Pearson" in source and "Spearman" in source, "the correlation is reported")
        check(len(driver.find_elements(By.CSS_SELECTOR, "svg circle")) >= 5, "one point per trial")
        latency = driver.find_elements(By.CSS_SELECTOR, "section[aria-label='latency cost across trials'] svg")
        check(len(latency) == 1 and latency[0].size["height"] > 100, "the latency cost chart is drawn")
        check("per +10% latency" in source, "the fitted latency cost is stated")

        # A phone: the experiment page fits the width.
        driver.set_window_size(390, 844)
        driver.get(f"{url}/experiments/ranker-v7")
        page_ok(driver, "experiment-ranker-v7-phone")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        check(overflow <= 1, f"no horizontal scrolling on a phone ({overflow}px)")

        driver.set_window_size(1280, 1000)
        start_and_stop_with_the_buttons(driver, url, key)

        driver.find_element(By.CSS_SELECTOR, "nav button").click()
        WebDriverWait(driver, 15).until(lambda d: d.current_url.endswith("/login"))
        driver.get(f"{url}/portfolio")
        check(driver.current_url.endswith("/login"), "logged out")
    finally:
        driver.quit()


def api(url, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def log_in(driver, url, key):
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/experiments"))


def start_and_stop_with_the_buttons(driver, url, admin_key):
    """An experimenter's session starts a draft and stops it; a read-only one sees no buttons."""
    api(url, admin_key, "POST", "/v1/experiments", {
        "key": "browser-trial", "hypothesis": "The buttons work.",
        "variants": [{"name": "control", "weight": 0.5}, {"name": "treatment", "weight": 0.5}],
        "metrics": {"primary": "bookings"},
    })
    experimenter = api(url, admin_key, "POST", "/v1/keys", {"scopes": ["experiment"], "name": "maya"})["key"]
    reader = api(url, admin_key, "POST", "/v1/keys", {"scopes": ["read"], "name": "tom"})

    driver.find_element(By.CSS_SELECTOR, "nav button").click()
    log_in(driver, url, experimenter)
    driver.get(f"{url}/experiments/browser-trial")
    page_ok(driver, "experiment-draft-buttons")
    driver.find_element(By.XPATH, "//button[text()='Start trial']").click()
    WebDriverWait(driver, 30).until(lambda d: "Stop trial" in d.page_source)
    check(api(url, admin_key, "GET", "/v1/experiments/browser-trial")["status"] == "running", "started")
    driver.find_element(By.XPATH, "//button[starts-with(text(), 'Stop trial')]").click()
    WebDriverWait(driver, 30).until(lambda d: "Stop and freeze the verdict" in d.page_source)
    page_ok(driver, "experiment-stop-confirmation")
    check(api(url, admin_key, "GET", "/v1/experiments/browser-trial")["status"] == "running",
          "the confirmation step changes nothing")
    driver.find_element(By.XPATH, "//button[text()='Stop and freeze the verdict']").click()
    WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/experiments/browser-trial"))
    check(api(url, admin_key, "GET", "/v1/experiments/browser-trial")["status"] == "stopped", "stopped")
    check("Stop trial" not in driver.page_source and "Start trial" not in driver.page_source,
          "a stopped trial has no buttons")

    driver.find_element(By.CSS_SELECTOR, "nav button").click()
    log_in(driver, url, reader["key"])
    driver.get(f"{url}/experiments/ranker-v7")
    source = page_ok(driver, "experiment-read-only")
    check("Start trial" not in source and "Stop trial" not in source and "csrf" not in source,
          "a read-only session sees no buttons")
    api(url, admin_key, "DELETE", f"/v1/keys/{reader['key_id']}")
    driver.get(f"{url}/experiments")
    check(driver.current_url.endswith("/login"), "revoking the key logs its session out")
    log_in(driver, url, admin_key)


if __name__ == "__main__":
    main()
