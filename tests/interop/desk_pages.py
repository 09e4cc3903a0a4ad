"""Pages back through a desk inbox holding more bulletins than one page shows, with a
plain HTTPS client (requests) signed in as an officer.

Usage: desk_pages.py EXPECT_JSON
EXPECT_JSON: {"base", "ca", "enrol", "titles": every title received, "strict": the
AMBER+STRICT ones among them, "page": bulletins per page}
Prints a JSON summary; any failed check raises (exit status 1).
"""

import html
import json
import re
import sys

from desk_browser import check, sign_in_plainly

ROW = re.compile(r'<a href="/bulletin/[^"]+">([^<]*)</a>')
OLDER = re.compile(r'<a href="([^"]+)" rel="next">Older bulletins</a>')


def walk(client, base, url, page):
    """Every title the inbox shows from `url` on, following "Older bulletins"."""
    seen, pages = [], 0
    while url:
        r = client.get(base + url)
        check(r.status_code == 200, f"{url}: {r.status_code}")
        titles = [html.unescape(t) for t in ROW.findall(r.text)]
        check(len(titles) <= page, f"{url}: {len(titles)} rows, more than a page")
        if pages > 0:
            check('>Newest</a>' in r.text, f"{url}: a later page links back to the newest")
        seen += titles
        pages += 1
        older = OLDER.search(r.text)
        url = html.unescape(older.group(1)) if older else None
        check(pages <= 10, "the inbox pages on forever")
    return seen, pages


def main():
    expect = json.loads(sys.argv[1])
    base = expect["base"]
    client = sign_in_plainly(base, expect["ca"], expect["enrol"], "pia")
    everything, pages = walk(client, base, "/inbox", expect["page"])
    check(sorted(everything) == sorted(expect["titles"]),
          f"every bulletin once: {len(everything)} shown of {len(expect['titles'])}")
    check(pages == 2, f"two pages: {pages}")
    # Newest first across the page boundary: the titles carry their sending order.
    numbers = [int(t.split()[-1]) for t in everything]
    check(numbers == sorted(numbers, reverse=True), "newest first across pages")
    # The TLP filter holds on older pages (AMBER+STRICT's `+` survives the link).
    strict, strict_pages = walk(client, base, "/inbox?tlp=amber%2Bstrict", expect["page"])
    check(sorted(strict) == sorted(expect["strict"]),
          f"the AMBER+STRICT ones: {len(strict)} shown of {len(expect['strict'])}")
    check(strict_pages == 2, f"two pages of AMBER+STRICT: {strict_pages}")
    # A cursor from nowhere is a page like any other, not an error.
    r = client.get(base + "/inbox?after=99999999")
    check(r.status_code == 200, f"a cursor past the end: {r.status_code}")
    r = client.get(base + "/inbox?after=x")
    check(r.status_code == 400, f"a cursor that is not a number: {r.status_code}")
    print(json.dumps({"shown": len(everything), "pages": pages, "strict": len(strict)}))


if __name__ == "__main__":
    main()
