"""Works a Liaison desk in a real browser (Debian's Chromium, headless, driven by
Selenium), the way an officer would, and proves hostile bulletins render inert.

Usage: desk_browser.py EXPECT_JSON
EXPECT_JSON: {"base", "ca", "enrol", "reader_enrol", "admin_enrol", "first", "reply", "linked", "hostile", "screenshots"}
(screenshots: a directory to save PNGs of the main pages in, or "").
Prints a JSON summary; any failed check raises (exit status 1).
"""

import html
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

import requests
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

PASSWORD = "correct horse battery staple"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--ignore-certificate-errors", "--no-first-run", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1366,900"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def inert(driver, where):
    """No payload ran and none became markup: no flag set, no alert, no image, SVG or
    inline script in the DOM, the page still visible."""
    check(driver.execute_script("return typeof window.__xss") == "undefined",
          f"{where}: a payload ran (window.__xss = {driver.execute_script('return window.__xss')})")
    try:
        driver.switch_to.alert
        raise AssertionError(f"{where}: an alert is open")
    except NoAlertPresentException:
        pass
    counts = driver.execute_script(
        "return [document.querySelectorAll('img').length, document.querySelectorAll('svg').length,"
        " Array.from(document.scripts).filter(s => !s.src).length,"
        " document.querySelectorAll('style').length, document.querySelectorAll('a[href^=\"javascript:\"]').length,"
        " getComputedStyle(document.body).display]")
    check(counts[:5] == [0, 0, 0, 0, 0], f"{where}: payload markup in the DOM: {counts}")
    check(counts[5] != "none", f"{where}: injected CSS hid the page")


def shot(driver, expect, name):
    if expect["screenshots"]:
        os.makedirs(expect["screenshots"], exist_ok=True)
        driver.save_screenshot(os.path.join(expect["screenshots"], f"desk-{name}.png"))


def form_token(page):
    return page.split('name="csrf" value="')[1].split('"')[0]


def sign_in_plainly(base, ca, enrol_link, name):
    """Enrols and signs in with a plain HTTPS client keeping cookies: a session."""
    client = requests.Session()
    client.verify = ca
    origin = {"Origin": base}
    token = form_token(client.get(enrol_link).text)
    r = client.post(enrol_link, headers=origin, allow_redirects=False,
                    data={"csrf": token, "password": PASSWORD, "confirm": PASSWORD})
    check(r.status_code == 303, f"{name} enrols: {r.status_code} {r.text}")
    token = form_token(client.get(base + "/login").text)
    r = client.post(base + "/login", headers=origin, allow_redirects=False,
                    data={"csrf": token, "name": name, "password": PASSWORD})
    check(r.status_code == 303 and r.headers["Location"] == "/inbox", f"{name}: {r.status_code}")
    return client


def main():
    expect = json.loads(sys.argv[1])
    base = expect["base"]
    driver = browser()
    wait = WebDriverWait(driver, 20)
    summary = {}
    try:
        # Enrol through the link, then sign in.
        driver.get(expect["enrol"])
        check("anna" in driver.find_element(By.TAG_NAME, "main").text, "the enrolment page names her")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "confirm").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
        wait.until(EC.url_contains("/login"))
        check("password is set" in driver.page_source, "told to sign in")
        driver.get(expect["enrol"])
        check("not valid" in driver.title or "unknown, used or expired" in driver.page_source,
              "the link works once")
        driver.get(base + "/login")
        driver.find_element(By.ID, "name").send_keys("anna")
        driver.find_element(By.ID, "password").send_keys("wrong password entirely")
        driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
        wait.until(lambda d: "Wrong name or password" in d.page_source)
        driver.find_element(By.ID, "name").send_keys("anna")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
        wait.until(EC.url_contains("/inbox"))

        # The inbox: four received bulletins, unread, the hostile title shown as text.
        rows = driver.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
        check(len(rows) == 4, f"{len(rows)} rows in the inbox")
        check(len(driver.find_elements(By.CSS_SELECTOR, "tr.unread")) == 4, "all unread")
        check("<script>window.__xss=1</script>" in driver.find_element(By.TAG_NAME, "main").text,
              "the hostile title is shown as text")
        inert(driver, "inbox")
        shot(driver, expect, "inbox")

        # The hostile bulletin: every field as text, the attachment a download.
        driver.get(f"{base}/bulletin/{expect['hostile']}")
        main = driver.find_element(By.TAG_NAME, "main").text
        check("<img src=x onerror=\"window.__xss=2\">" in main, "the body is shown as text")
        check("Ion <img src=x onerror=window.__xss=5>" in main, "the entity is shown as text")
        check("onerror=window.__xss=6>.html" in main, "the attachment name is shown as text")
        banner = driver.find_element(By.CSS_SELECTOR, ".banner")
        check(banner.text == "TLP:GREEN" and "tlp-green" in banner.get_attribute("class"),
              "the marking banner")
        inert(driver, "hostile bulletin")
        link = driver.find_element(By.CSS_SELECTOR, "#attachments ~ ul a, section a[download]")
        check(link.get_attribute("download") is not None, "the attachment is a download link")
        cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
        session = requests.Session()
        session.verify = expect["ca"]
        session.cookies.update(cookies)
        r = session.get(link.get_attribute("href"))
        check(r.status_code == 200, f"attachment: {r.status_code}")
        check(r.headers["Content-Type"] == "application/octet-stream", r.headers)
        check(r.headers["Content-Disposition"].startswith("attachment; filename=\"")
              and "<" not in r.headers["Content-Disposition"], r.headers["Content-Disposition"])
        check("sandbox" in r.headers["Content-Security-Policy"], r.headers)
        page = session.get(f"{base}/bulletin/{expect['hostile']}")
        csp = page.headers["Content-Security-Policy"]
        check("script-src 'self'" in csp and "unsafe" not in csp, csp)
        check(page.headers["X-Content-Type-Options"] == "nosniff", page.headers)
        summary["csp"] = csp

        # A bulletin, its thread and its correlation link.
        driver.get(f"{base}/bulletin/{expect['first']}")
        thread = driver.find_element(By.ID, "thread").find_element(By.XPATH, "..").text
        check("Same recruiter seen in Arad" in thread, "the reply is in the thread")
        links = driver.find_element(By.ID, "links").find_element(By.XPATH, "..")
        check("Phone known to us" in links.text and "+40712345678" in links.text, links.text)
        shot(driver, expect, "bulletin")
        links.find_element(By.LINK_TEXT, "Phone known to us").click()
        wait.until(EC.url_contains(expect["linked"]))
        check(driver.find_element(By.CSS_SELECTOR, ".banner").text == "TLP:GREEN", "linked one")
        driver.get(f"{base}/bulletin/{expect['first']}")
        Select(driver.find_element(By.ID, "state")).select_by_value("actioned")
        driver.find_element(By.ID, "note").send_keys("Passed to the Constanta team")
        driver.find_element(By.CSS_SELECTOR, "form.inline button").click()
        wait.until(EC.url_contains("done=ack"))
        acks = driver.find_element(By.ID, "acks").find_element(By.XPATH, "..").text
        check("officer anna: actioned" in acks, acks)
        driver.get(base + "/inbox")
        check(len(driver.find_elements(By.CSS_SELECTOR, "tr.unread")) == 1,
              "opened bulletins are no longer unread")

        # Compose: the preview refuses RO-DIICOT at AMBER and names the rule.
        driver.get(base + "/compose")
        for partner in ["DE-BKA", "RO-DIICOT"]:
            driver.find_element(By.CSS_SELECTOR, f"input[name=to][value={partner}]").click()
        driver.find_element(By.ID, "category").send_keys("trafficking.persons")
        Select(driver.find_element(By.ID, "tlp")).select_by_value("amber")
        wait.until(lambda d: "goes to DE-BKA" in d.find_element(By.ID, "preview").text
                   and "not to RO-DIICOT" in d.find_element(By.ID, "preview").text)
        preview = driver.find_element(By.ID, "preview").text
        check("goes to DE-BKA" in preview, preview)
        check("not to RO-DIICOT: partners.RO-DIICOT.max_send_tlp" in preview,
              f"the refusing rule is named: {preview}")
        summary["preview"] = preview
        shot(driver, expect, "compose")
        driver.find_element(By.CSS_SELECTOR, "input[name=to][value=RO-DIICOT]").click()
        wait.until(lambda d: "RO-DIICOT" not in d.find_element(By.ID, "preview").text)
        driver.find_element(By.ID, "title").send_keys("Sent from the desk")
        # Enter in a field submits nothing: only the Send button sends.
        driver.find_element(By.ID, "title").send_keys(Keys.ENTER)
        time.sleep(1)
        check(driver.current_url.endswith("/compose")
              and driver.find_element(By.ID, "title").get_attribute("value") == "Sent from the desk"
              and len(driver.find_elements(By.CSS_SELECTOR, ".entity-row")) == 3,
              f"Enter submitted the form: {driver.current_url}")
        driver.find_element(By.ID, "body").send_keys("The van crossed at Nadlac.")
        Select(driver.find_element(By.ID, "request")).select_by_value("urgent")
        driver.find_element(By.ID, "due_hours").send_keys("48")
        check(len(driver.find_elements(By.CSS_SELECTOR, ".entity-row")) == 3,
              "the form starts with three entity rows")
        Select(driver.find_element(By.ID, "entity_kind_0")).select_by_value("vehicle")
        driver.find_element(By.ID, "entity_value_0").send_keys("B123XYZ;country=RO;make=Dacia Logan")
        Select(driver.find_element(By.ID, "entity_kind_1")).select_by_value("person")
        driver.find_element(By.ID, "entity_value_1").send_keys("Vasile Dumitrescu;dob=1979-05-14;nat=RO")
        # More rows: the form comes back with what was typed and five more rows.
        driver.find_element(By.CSS_SELECTOR, "button[value=more-rows]").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".entity-row")) == 8)
        check(driver.find_element(By.ID, "entity_value_0").get_attribute("value")
              == "B123XYZ;country=RO;make=Dacia Logan",
              "entity rows survive asking for more")
        check(driver.find_element(By.ID, "title").get_attribute("value") == "Sent from the desk",
              "the title survives asking for more rows")
        check(not driver.find_element(By.CSS_SELECTOR, "input[name=to][value=RO-DIICOT]").is_selected()
              and driver.find_element(By.CSS_SELECTOR, "input[name=to][value=DE-BKA]").is_selected(),
              "the recipients survive asking for more rows")
        Select(driver.find_element(By.ID, "entity_kind_2")).select_by_value("phone")
        driver.find_element(By.ID, "entity_value_2").send_keys("+40 721 234 567")
        driver.execute_script("arguments[0].scrollIntoView()",
                              driver.find_element(By.CSS_SELECTOR, "fieldset.entities"))
        shot(driver, expect, "compose-entities")
        here = os.path.dirname(os.path.abspath(sys.argv[0]))
        attachments = [os.path.join(here, "desk_attachment.txt"), os.path.join(here, "desk_route.csv")]
        for path, text in zip(attachments, ["Crossing log, 28 November.\n", "from,to\nNadlac,Arad\n"]):
            with open(path, "w") as f:
                f.write(text)
        try:
            driver.find_element(By.ID, "attachment").send_keys("\n".join(attachments))
            driver.find_element(By.ID, "send").click()
            wait.until(EC.url_contains("done=sent"))
        finally:
            for path in attachments:
                os.remove(path)
        main = driver.find_element(By.TAG_NAME, "main").text
        check("Sent." in main and "B123XYZ" in main and "Vasile Dumitrescu" in main
              and "+40721234567" in main, f"the three entities are sent: {main}")
        check("Dacia Logan" in main and "1979-05-14" in main,
              f"the entities' fields are sent: {main}")
        check("desk_attachment.txt" in main and "desk_route.csv" in main,
              f"both attachments are sent: {main}")
        check("DE-BKA" in main, "sent to DE-BKA")
        check("urgent, due" in main and "awaiting DE-BKA" in main, f"a request: {main}")
        sent_url = driver.current_url.split("?")[0]
        for _ in range(100):
            driver.get(sent_url)
            delivery = driver.find_element(By.ID, "delivery").find_element(By.XPATH, "..").text
            if "accepted" in delivery:
                break
            time.sleep(0.2)
        check("accepted" in delivery and "their log entry" in delivery,
              f"DE-BKA's signed receipt is shown: {delivery}")
        # Released for onward sharing: DE-BKA may pass it to RO-DIICOT for a week.
        # First what the form refuses, by name, changing nothing.
        token = form_token(session.get(sent_url).text)
        for fields, expected in [
            ({"days": "7"}, "tick at least one partner to release it to"),
            ({"to": "RO-DIICOT", "days": "0"}, 'days: "0" is not 1 to 3650'),
            ({"to": "RO-DIICOT", "holder": "PL-CBS"}, "PL-CBS"),
        ]:
            r = session.post(sent_url + "/onward/release", data={"csrf": token, **fields})
            check(r.status_code == 400 and expected in html.unescape(r.text),
                  f"release refused ({expected}): {r.status_code} {html.unescape(r.text)[:3000]}")
        check("released by this node" not in driver.find_element(By.TAG_NAME, "main").text,
              "a refused release granted nothing")
        week = {(datetime.now(timezone.utc) + timedelta(days=7)).strftime("%Y-%m-%d")}
        driver.find_element(By.CSS_SELECTOR, "form.release input[name=to][value=RO-DIICOT]").click()
        driver.find_element(By.CSS_SELECTOR, "form.release input[name=holder][value=DE-BKA]").click()
        driver.find_element(By.ID, "release-days").send_keys("7")
        driver.find_element(By.CSS_SELECTOR, "form.release button[type=submit]").click()
        wait.until(EC.url_contains("done=released"))
        week.add((datetime.now(timezone.utc) + timedelta(days=7)).strftime("%Y-%m-%d"))
        grants = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#onward ~ ul li")]
        check(any("DE-BKA may pass it on to RO-DIICOT until" in g and any(d in g for d in week)
                  for g in grants), f"the grant is shown: {grants}")
        summary["release"] = grants

        # Recalled from the desk: every holder is asked to erase it.
        driver.find_element(By.ID, "recall-field").send_keys("Sent to the wrong desk")
        driver.find_element(By.CSS_SELECTOR, "form[action$='/onward/recall'] button").click()
        wait.until(EC.url_contains("done=recalled"))

        # Forwarding DE-BKA's AMBER bulletin to RO-DIICOT is refused, with the reason.
        driver.get(f"{base}/bulletin/{expect['first']}")
        Select(driver.find_element(By.ID, "forward-field")).select_by_value("RO-DIICOT")
        driver.find_element(By.CSS_SELECTOR, "form[action$='/onward/forward'] button").click()
        wait.until(lambda d: "/onward/forward" in d.current_url)
        refusal = driver.find_element(By.TAG_NAME, "main").text
        check("RO-DIICOT" in refusal or "release" in refusal, f"the refusal says why: {refusal}")
        summary["forward_refused"] = refusal
        inert(driver, "refusal page")

        # Search by words.
        driver.get(base + "/search?text=Constanta")
        results = driver.find_element(By.TAG_NAME, "main").text
        check("Recruiter active in Constanta" in results, results)
        shot(driver, expect, "search")
        # A selector narrowed by originator and TLP: the phone is in DE-BKA's AMBER
        # bulletin and in RO-DIICOT's GREEN one; only the first is asked for.
        driver.get(base + "/search")
        Select(driver.find_element(By.ID, "kind")).select_by_value("phone")
        driver.find_element(By.ID, "value").send_keys("+40 712 345 678")
        Select(driver.find_element(By.ID, "from")).select_by_value("DE-BKA")
        Select(driver.find_element(By.ID, "search-tlp")).select_by_value("amber")
        driver.find_element(By.CSS_SELECTOR, "form.search button[type=submit]").click()
        wait.until(EC.url_contains("value="))
        results = driver.find_element(By.TAG_NAME, "main").text
        check("Recruiter active in Constanta" in results and "Phone known to us" not in results,
              f"filtered by originator and TLP: {results}")
        check(driver.find_element(By.ID, "value").get_attribute("value") == "+40 712 345 678",
              "the form keeps what was asked")
        driver.get(base + "/search?kind=phone&value=%2B40712345678")
        results = driver.find_element(By.TAG_NAME, "main").text
        check("Recruiter active in Constanta" in results and "Phone known to us" in results,
              f"unfiltered, both: {results}")
        driver.get(base + "/search?kind=phone&value=%2B40712345678&since=2999-01-01")
        check("Nothing here." in driver.find_element(By.TAG_NAME, "main").text, "nothing after 2999")
        for query, expected in [
            ("kind=vehicle&value=B123XYZ", "give the country with the plate"),
            ("text=van&since=yesterday", 'since: "yesterday" is not a date'),
            ("text=van&from=nowhere", "from:"),
            ("kind=weapon&value=AK", "weapon"),
        ]:
            r = session.get(f"{base}/search?{query}")
            check(r.status_code == 400 and expected in html.unescape(r.text),
                  f"search refused ({query}): {r.status_code} {html.unescape(r.text)[-1500:]}")

        # The private hit/no-hit query: one answer (or refusal) per partner.
        driver.get(base + "/query")
        driver.find_element(By.ID, "phone").send_keys("+40712345678")
        driver.find_element(By.CSS_SELECTOR, "main form button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.list tbody tr"))
        answers = driver.find_element(By.CSS_SELECTOR, "table.list").text
        check("DE-BKA HIT" in answers and "RO-DIICOT HIT" in answers, answers)
        summary["query"] = answers

        # Partners at a glance; the log view is for admins.
        driver.get(base + "/partners")
        partners = driver.find_element(By.CSS_SELECTOR, "table.list").text
        check("DE-BKA" in partners and "RO-DIICOT" in partners, partners)
        r = session.get(base + "/log")
        check(r.status_code == 403 and "lacks the `admin` role" in r.text, r.status_code)

        # An admin officer sees the log, with the desk's own entries in it.
        auditor = sign_in_plainly(base, expect["ca"], expect["admin_enrol"], "alex")
        log = auditor.get(base + "/log")
        check(log.status_code == 200, log.status_code)
        for event in ["officer-signed-in", "officer-action", "consulted"]:
            check(event in log.text, f"the log view shows {event}")

        # A forged form (wrong CSRF token) changes nothing.
        r = session.post(f"{base}/bulletin/{expect['first']}/ack",
                         data={"csrf": "forged", "state": "read"})
        check(r.status_code == 403, f"forged form: {r.status_code}")
        # Compose forms the desk's page would not send: each refused by what is wrong,
        # and nothing sent (the Rust side checks DE-BKA never got one).
        token = form_token(session.get(base + "/compose").text)
        form = {"csrf": token, "to": "DE-BKA", "category": "trafficking.persons",
                "tlp": "green", "title": "Refused at the desk", "body": "x"}
        blank_file = [("attachment", ("", b""))]
        refusals = [
            ({"entity_kind": ["vehicle", "phone"], "entity_value": ["RO:B1"]}, blank_file,
             "the entity rows do not pair up: 2 kinds and 1 values"),
            ({"entity_kind": ["phone", "vehicle"], "entity_value": ["+40721234567", "B1;colour=red"]},
             blank_file, 'entity 2: vehicle: unknown field "colour": expected country, make, vin'),
            ({"entity_kind": ["weapon"], "entity_value": ["AK"]}, blank_file,
             'entity 1: kind: unknown entity kind "weapon"'),
            ({"entity_kind": [""] * 41, "entity_value": [""] * 41}, blank_file,
             "more than 40 entity rows"),
            ({}, [("attachment", (f"f{i}.txt", b"x")) for i in range(17)],
             "more than 16 files attached"),
            ({}, [("attachment", ("big.bin", b"\0" * (8 * 1024 * 1024 + 1)))],
             "the attachments come to more than 8388608 bytes"),
        ]
        for extra, files, expected in refusals:
            r = session.post(base + "/compose", data={**form, **extra}, files=files)
            check(r.status_code == 400 and expected in html.unescape(r.text),
                  f"refused compose ({expected}): {r.status_code}")
        # An officer without the publish role would get 403; without a session, the
        # sign-in page.
        r = requests.get(base + "/compose", verify=expect["ca"], allow_redirects=False)
        check(r.status_code in (302, 303, 307) and r.headers["Location"] == "/login", r.headers)

        # An officer with the read role only: enrols and signs in without a browser
        # (a plain HTTPS client with cookies), and may not compose.
        reader = sign_in_plainly(base, expect["ca"], expect["reader_enrol"], "rita")
        check(reader.get(base + "/inbox").status_code == 200, "the reader reads")
        r = reader.get(base + "/compose")
        check(r.status_code == 403 and "lacks the `publish` role" in r.text, r.status_code)
        # A form posted from another origin is refused even with the right token.
        token = form_token(reader.get(f"{base}/bulletin/{expect['first']}").text)
        r = reader.post(f"{base}/bulletin/{expect['first']}/ack",
                        headers={"Origin": "https://evil.example"},
                        data={"csrf": token, "state": "read"})
        check(r.status_code == 403, f"cross-origin form: {r.status_code}")

        # Signing out ends the session.
        driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
        wait.until(EC.url_contains("/login"))
        driver.get(base + "/inbox")
        check(driver.current_url.endswith("/login"), "signed out")
        # Script errors and Content-Security-Policy violations; not the statuses the
        # steps above provoked on purpose (404 for a spent link, 401 for a bad password).
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
                  and e.get("source") != "network"]
        summary["browser_errors"] = [e["message"] for e in severe]
        check(not severe, f"browser errors: {severe}")
    except Exception:
        # Where the browser was when a check failed, for whoever reads the failure.
        print(f"at {driver.current_url}:\n{driver.find_element(By.TAG_NAME, 'body').text}",
              file=sys.stderr)
        raise
    finally:
        driver.quit()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
