"""Validates STIX 2.1 bundles with OASIS's stix2-validator (the reference validator).

Usage: stix_validate.py FILE...  Prints the validator's results; exits 1 if any file
has an error. Warnings are printed and allowed: Liaison's ids are UUIDv5 on purpose
(re-exporting gives the same ids), which the validator warns about (code 103).
"""

import sys

from stix2validator import ValidationOptions, print_results, validate_file


def main() -> int:
    options = ValidationOptions(version="2.1")
    ok = True
    for path in sys.argv[1:]:
        result = validate_file(path, options)
        print_results(result)
        ok = ok and result.is_valid
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
