"""The desk on a full disk, with a plain HTTPS client (requests): what cannot be
recorded in the log does not happen, says why, and works again once there is room.

Usage: desk_full_disk.py EXPECT_JSON
EXPECT_JSON: {"step": "sign-in" | "full" | "room", "base", "ca", "enrol" (sign-in),
"cookie" (full, room: the session signed in before the disk filled), "bulletin": an id
held, "title": its title}
Prints a JSON summary (sign-in: the session cookie); any failed check raises.
"""

import html
import json
import sys

import requests

from desk_browser import PASSWORD, check, form_token, sign_in_plainly

COOKIE = "__Host-liaison-desk"


def session_with(expect, cookie):
    s = requests.Session()
    s.verify = expect["ca"]
    s.cookies.set(COOKIE, cookie)
    return s


def fresh_sign_in(expect):
    """A password sign-in as a new browser would make it: its response."""
    base = expect["base"]
    s = requests.Session()
    s.verify = expect["ca"]
    token = form_token(s.get(base + "/login").text)
    return s.post(base + "/login", headers={"Origin": base}, allow_redirects=False,
                  data={"csrf": token, "name": "fay", "password": PASSWORD})


def main():
    expect = json.loads(sys.argv[1])
    base, step = expect["base"], expect["step"]
    if step == "sign-in":
        s = sign_in_plainly(base, expect["ca"], expect["enrol"], "fay")
        print(json.dumps({"cookie": s.cookies.get(COOKIE)}))
        return
    s = session_with(expect, expect["cookie"])
    check(s.get(base + "/inbox", allow_redirects=False).status_code == 200,
          "the session from before is alive (the inbox needs no write)")
    page = s.get(f"{base}/bulletin/{expect['bulletin']}")
    text = html.unescape(page.text)
    if step == "full":
        # A read that cannot be recorded is not shown.
        check(page.status_code == 500 and expect["title"] not in text
              and "could not complete" in text,
              f"a bulletin read on a full disk: {page.status_code} {text[-800:]}")
        # A sign-in that cannot be recorded does not happen.
        r = fresh_sign_in(expect)
        check(r.status_code == 401 and "cannot record the sign-in" in html.unescape(r.text),
              f"a sign-in on a full disk: {r.status_code}")
        # A send that cannot be made durable is refused with the reason.
        token = form_token(s.get(base + "/compose").text)
        r = s.post(base + "/compose", headers={"Origin": base}, files=[("attachment", ("", b""))],
                   data={"csrf": token, "to": "DE-BKA", "category": "trafficking.persons",
                         "tlp": "green", "title": "Written on a full disk", "body": "x"})
        check(r.status_code in (400, 500) and "Sent." not in r.text,
              f"a send on a full disk: {r.status_code}")
        print(json.dumps({"full": "refused"}))
    else:
        check(page.status_code == 200 and expect["title"] in text,
              f"the bulletin again with room: {page.status_code}")
        r = fresh_sign_in(expect)
        check(r.status_code == 303, f"a sign-in with room: {r.status_code}")
        print(json.dumps({"room": "works"}))


if __name__ == "__main__":
    main()
