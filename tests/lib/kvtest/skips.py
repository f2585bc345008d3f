"""The one allow-list of tests that may skip: tests/SKIPS."""

import os

from .paths import ROOT

SKIPS_FILE = os.path.join("tests", "SKIPS")


def allowed_skips(path=os.path.join(ROOT, SKIPS_FILE)):
    """{test id: reason} from tests/SKIPS: one test a line, its id, then why
    it may skip; '#' starts a comment. A line without a reason is an error."""
    out = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return out
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        test, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError("%s:%d: %s has no reason" % (path, n, test))
        out[test] = reason.strip()
    return out
