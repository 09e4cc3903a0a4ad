"""Reads a Liaison node's TAXII 2.1 server the way an analyst's platform would: with
OASIS's taxii2-client (discovery, API root, collections, objects paged with
added_after and next, manifest, one object and its versions), then with plain HTTPS
requests for what a client library hides (media types, headers, errors). Every object
read is checked with OASIS's stix2-validator.

Usage: taxii_read.py BASE_URL CA CERT KEY NO_READ_CERT NO_READ_KEY EXPECT_JSON
EXPECT_JSON: {"reports": n, "first_report": id, "from_ro": m, "per_page": k}.
Prints a JSON summary on success; any failed check raises (exit status 1).
"""

import json
import sys

import requests
from stix2validator import ValidationOptions, validate_instance
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Server, as_pages

TAXII = "application/taxii+json;version=2.1"


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    base, ca, cert, key, no_read_cert, no_read_key, expect = sys.argv[1:8]
    expect = json.loads(expect)
    auth = {"verify": ca, "cert": (cert, key)}

    # Discovery and the API root.
    server = Server(base + "/taxii2/", **auth)
    check(server.title.startswith("Liaison node DE-BKA"), server.title)
    check(len(server.api_roots) == 1, server.api_roots)
    check(server.default.url == server.api_roots[0].url, "default is the one root")
    root = server.api_roots[0]
    check(TAXII in root.versions, root.versions)
    aliases = {c.alias: c for c in root.collections}
    for alias in ["received", "sent", "received-from-NL-NP", "received-from-RO-DIICOT"]:
        check(alias in aliases, f"collection {alias} listed: {sorted(aliases)}")
    received = aliases["received"]
    check(received.can_read and not received.can_write, "read-only")
    check(received.media_types == ["application/stix+json;version=2.1"], received.media_types)

    # The whole collection in one page.
    whole = received.get_objects(limit=1000)
    check(whole["more"] is False, "one page holds it all")
    reports = [o for o in whole["objects"] if o["type"] == "report"]
    check(len(reports) == expect["reports"], f"{len(reports)} reports")
    result = validate_instance(
        {"type": "bundle", "id": "bundle--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
         "objects": whole["objects"]},
        ValidationOptions(version="2.1"),
    )
    check(result.is_valid, [str(e) for e in result.errors])

    # The manifest gives every object's date; added_after the first bulletin's.
    manifest = received.get_manifest(limit=1000)
    dates = {m["id"]: m["date_added"] for m in manifest["objects"]}
    first_added = dates[expect["first_report"]]
    check(all(m["media_type"] == "application/stix+json;version=2.1"
              for m in manifest["objects"]), "manifest media types")

    # Paged, after the first bulletin: as taxii2-client pages, by next.
    per_page = expect["per_page"]
    pages = list(as_pages(received.get_objects, per_request=per_page, added_after=first_added))
    check(len(pages) >= 3, f"{len(pages)} pages")
    for page in pages[:-1]:
        check(page["more"] is True and len(page["objects"]) == per_page, "full pages say more")
    check(pages[-1]["more"] is False, "the last page says no more")
    paged = [o for p in pages for o in p.get("objects", [])]
    paged_reports = [o["id"] for o in paged if o["type"] == "report"]
    check(len(paged_reports) == len(set(paged_reports)), "no report twice across pages")
    expected = {r["id"] for r in reports} - {expect["first_report"]}
    check(set(paged_reports) == expected,
          f"pages hold every report after the first: {sorted(expected - set(paged_reports))} missing")
    manifest_pages = list(as_pages(received.get_manifest, per_request=per_page,
                                   added_after=first_added))
    check(len(manifest_pages) == len(pages), "manifest pages like object pages")
    check({m["id"] for p in manifest_pages for m in p.get("objects", [])} == {o["id"] for o in paged},
          "the manifest lists the objects")

    # Filters.
    only_reports = received.get_objects(type="report", limit=1000)["objects"]
    check({o["type"] for o in only_reports} == {"report"}, "match[type]")
    check(len(only_reports) == expect["reports"], "every report")
    from_ro = aliases["received-from-RO-DIICOT"].get_objects(type="report", limit=1000)["objects"]
    check(len(from_ro) == expect["from_ro"], f"{len(from_ro)} reports from RO-DIICOT")
    ro_identity = [o for o in whole["objects"] if o.get("name") == "RO-DIICOT"][0]["id"]
    check(all(o["created_by_ref"] == ro_identity for o in from_ro), "only RO-DIICOT's")
    by_id = received.get_objects(id=expect["first_report"], limit=1000)["objects"]
    check([o["id"] for o in by_id] == [expect["first_report"]], "match[id]")

    # One object, its versions.
    one = received.get_object(expect["first_report"])
    check([o["id"] for o in one["objects"]] == [expect["first_report"]], "get object")
    versions = received.object_versions(expect["first_report"])
    check(len(versions["versions"]) == 1 and versions["more"] is False, versions)

    # What the client library hides: headers, media types, errors.
    objects_url = received.url + "objects/"
    session = requests.Session()
    session.verify, session.cert = ca, (cert, key)
    r = session.get(objects_url, params={"limit": per_page}, headers={"Accept": TAXII})
    check(r.status_code == 200 and r.headers["Content-Type"] == TAXII, r.headers)
    check("X-TAXII-Date-Added-First" in r.headers and "X-TAXII-Date-Added-Last" in r.headers,
          "date headers")
    errors = {}
    for name, (method, url, params, accept, status) in {
        "html": ("GET", objects_url, {}, "text/html", 406),
        "post": ("POST", objects_url, {}, TAXII, 405),
        "limit": ("GET", objects_url, {"limit": "0"}, TAXII, 400),
        "next": ("GET", objects_url, {"next": "yesterday"}, TAXII, 400),
        "filter": ("GET", objects_url, {"match[relationship_type]": "x"}, TAXII, 400),
        "collection": ("GET", root.url + "collections/nope/objects/", {}, TAXII, 404),
        "object": ("GET", objects_url + "report--00000000-0000-5000-8000-000000000000/", {},
                   TAXII, 404),
        "status": ("GET", root.url + "status/1/", {}, TAXII, 404),
    }.items():
        r = session.request(method, url, params=params, headers={"Accept": accept})
        check(r.status_code == status, f"{name}: {r.status_code} {r.text}")
        check(r.headers["Content-Type"] == TAXII, f"{name}: {r.headers['Content-Type']}")
        body = r.json()
        check(body["http_status"] == str(status), body)
        errors[name] = body["description"]
    check(errors["limit"].startswith("limit:"), errors["limit"])
    check(errors["next"].startswith("next:"), errors["next"])
    check("received-from-NL-NP" in errors["collection"], errors["collection"])

    # A registered client without the read role, and no client certificate at all.
    r = requests.get(objects_url, verify=ca, cert=(no_read_cert, no_read_key),
                     headers={"Accept": TAXII})
    check(r.status_code == 403 and "lacks the `read` role" in r.json()["description"], r.text)
    try:
        requests.get(base + "/taxii2/", verify=ca, headers={"Accept": TAXII})
        raise AssertionError("a client without a certificate was served")
    except requests.exceptions.SSLError:
        pass
    except requests.exceptions.ConnectionError:
        pass
    try:
        ApiRoot(root.url, verify=ca, cert=(cert, key)).collections[0].get_objects(accept="application/json")
        raise AssertionError("application/json alone was answered")
    except (TAXIIServiceException, requests.exceptions.HTTPError):
        pass

    print(json.dumps({"pages": len(pages), "objects": len(paged),
                      "reports": len(reports), "errors": errors}))


if __name__ == "__main__":
    main()
