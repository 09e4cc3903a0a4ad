"""Signs in to a Liaison desk with client certificates, with a plain HTTPS client
(requests over Python's ssl, i.e. OpenSSL), the way a browser holding one would.

Usage: desk_certificate.py EXPECT_JSON
EXPECT_JSON: {"phase": 1 or 2, "base", "ca", "officer": [cert, key], "client": [cert,
key] (the agency CA's, not an officer's), "foreign": [cert, key] (another agency's),
"replaced": [cert, key] (phase 2: the officer's first certificate, since replaced),
"cookie": (phase 2: the session phase 1 left signed in with the replaced certificate)}
Prints a JSON summary; any failed check raises (exit status 1).
"""

import html
import json
import sys

import requests

from desk_browser import check, form_token

OFFER = "with your certificate"


def client(expect, identity=None):
    session = requests.Session()
    session.verify = expect["ca"]
    if identity:
        session.cert = tuple(identity)
    return session


def login_page(session, base):
    r = session.get(base + "/login")
    check(r.status_code == 200, f"the sign-in page: {r.status_code}")
    return html.unescape(r.text)


def sign_in_by_certificate(session, base):
    token = form_token(session.get(base + "/login").text)
    return session.post(base + "/login/certificate", data={"csrf": token},
                        headers={"Origin": base}, allow_redirects=False)


def refused(session, base, expected):
    r = sign_in_by_certificate(session, base)
    text = html.unescape(r.text)
    check(r.status_code == 401 and expected in text,
          f"refused ({expected}): {r.status_code} {text[:2000]}")
    check(session.get(base + "/inbox", allow_redirects=False).headers.get("Location") == "/login",
          "a refused certificate sign-in signs nobody in")


def phase_one(expect, base):
    summary = {}
    # No certificate: the password form only, and the certificate sign-in says why not.
    plain = client(expect)
    check(OFFER not in login_page(plain, base), "no certificate, no offer")
    refused(plain, base, "Your browser presented no certificate.")
    # Another agency's certificate: the handshake completes, the desk explains.
    foreign = client(expect, expect["foreign"])
    page = login_page(foreign, base)
    check("does not sign in with" in page and "not a client certificate of this agency's CA" in page,
          f"a foreign certificate is explained: {page[:2000]}")
    refused(foreign, base, "not a client certificate of this agency's CA")
    # The agency's own CA, but a system's certificate, not an officer's.
    system = client(expect, expect["client"])
    check("is not an officer's" in login_page(system, base), "a system's certificate is not offered")
    refused(system, base, "is not an officer's, or was replaced")
    # The officer's certificate: offered by name, one click signs in.
    officer = client(expect, expect["officer"])
    check("Sign in as bea " + OFFER in login_page(officer, base), "the officer is offered")
    r = sign_in_by_certificate(officer, base)
    check(r.status_code == 303 and r.headers["Location"] == "/inbox", f"signed in: {r.status_code}")
    inbox = officer.get(base + "/inbox")
    check(inbox.status_code == 200 and "bea" in inbox.text, f"the inbox: {inbox.status_code}")
    # The session's cookie on a connection without the certificate: the session ends,
    # for the thief and for the officer.
    thief = client(expect)
    thief.cookies.update(officer.cookies)
    r = thief.get(base + "/inbox", allow_redirects=False)
    check(r.status_code in (302, 303, 307) and r.headers["Location"] == "/login",
          f"a copied cookie is refused: {r.status_code}")
    r = officer.get(base + "/inbox", allow_redirects=False)
    check(r.headers.get("Location") == "/login", "and the session it was copied from ended")
    summary["copied_cookie"] = "refused"
    # Signed in again; this session is left for phase two.
    r = sign_in_by_certificate(officer, base)
    check(r.status_code == 303, f"signed in again: {r.status_code}")
    summary["cookie"] = officer.cookies.get("__Host-liaison-desk")
    return summary


def phase_two(expect, base):
    # The certificate was replaced: the session signed in with it ends, and it signs
    # nobody in any more; the new one does.
    old = client(expect, expect["replaced"])
    old.cookies.set("__Host-liaison-desk", expect["cookie"])
    r = old.get(base + "/inbox", allow_redirects=False)
    check(r.headers.get("Location") == "/login", f"the old certificate's session ended: {r.status_code}")
    old.cookies.clear()
    refused(old, base, "is not an officer's, or was replaced")
    new = client(expect, expect["officer"])
    r = sign_in_by_certificate(new, base)
    check(r.status_code == 303, f"the new certificate signs in: {r.status_code}")
    return {"replaced": "refused"}


def main():
    expect = json.loads(sys.argv[1])
    base = expect["base"]
    summary = phase_one(expect, base) if expect["phase"] == 1 else phase_two(expect, base)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
