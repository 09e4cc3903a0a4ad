"""Times the desk's pages on a running node holding many bulletins (docs/BENCHMARKS.md,
"The desk"): enrols through an admin officer's link, signs in, then times each page 20
times (after one warm-up) and prints the median and the 90th percentile.

Usage: desk_pages.py BASE_URL CA_PEM ENROLMENT_LINK   (with `requests` installed)
"""
import html, json, re, statistics, sys, time
import requests

base, ca, link = sys.argv[1], sys.argv[2], sys.argv[3]
PASSWORD = "correct horse battery staple"
def token(page):
    return page.split('name="csrf" value="')[1].split('"')[0]
s = requests.Session(); s.verify = ca
o = {"Origin": base}
t = token(s.get(link).text)
r = s.post(link, headers=o, data={"csrf": t, "password": PASSWORD, "confirm": PASSWORD}, allow_redirects=False)
assert r.status_code == 303, r.status_code
t = token(s.get(base + "/login").text)
r = s.post(base + "/login", headers=o, data={"csrf": t, "name": "officer", "password": PASSWORD}, allow_redirects=False)
assert r.status_code == 303, r.status_code

def timed(label, fn, n=20):
    fn()  # warm
    times = []
    for _ in range(n):
        a = time.perf_counter(); r = fn(); times.append((time.perf_counter() - a) * 1000)
        assert r.status_code in (200, 303), (label, r.status_code, r.text[:300])
    times.sort()
    print(f"| {label} | {statistics.median(times):.1f} ms | {times[int(len(times)*0.9)-1]:.1f} ms |")
    return r

inbox = timed("inbox, first page (200 rows)", lambda: s.get(base + "/inbox"))
rows = len(re.findall(r'<a href="/bulletin/', inbox.text))
older = re.search(r'<a href="([^"]+)" rel="next">', inbox.text)
ids = re.findall(r'<a href="/bulletin/([0-9a-f-]{36})">', inbox.text)
if older:
    timed("inbox, an older page", lambda: s.get(base + html.unescape(older.group(1))))
timed("inbox, TLP filter", lambda: s.get(base + "/inbox?tlp=green"))
timed("a bulletin (decrypted, logged as read)", lambda: s.get(base + f"/bulletin/{ids[50]}"))
timed("search, a word", lambda: s.get(base + "/search?text=crossing"))
timed("search, a phone", lambda: s.get(base + "/search?phone=%2B40712000050"))
t = token(s.get(base + "/compose").text)
n = [0]
def send():
    n[0] += 1
    return s.post(base + "/compose", headers=o, allow_redirects=False, data={
        "csrf": t, "to": "DE-BKA", "category": "trafficking.persons", "tlp": "green",
        "title": f"Timed {n[0]}", "body": "x", "entity_kind": "phone", "entity_value": "+40712999000"},
        files=[("attachment", ("", b""))])
timed("compose and send (sealed, signed, logged, queued)", send)
timed("policy preview", lambda: s.get(base + "/compose/preview?to=DE-BKA&to=RO-DIICOT&category=trafficking.persons&tlp=amber"))
print(f"rows on the first page: {rows}")
