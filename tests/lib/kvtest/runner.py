"""Runs the unittest tests discovered in a directory and closes with one
line, `NAME: N passed, N failed, N skipped`, which tests/run-all.sh sums.

    python3 -m kvtest.runner NAME DIR [PATTERN]

PATTERN picks the files (default test_*.py). A skipped test fails the run
unless tests/SKIPS lists it with a reason; a run that finds no test fails."""

import sys
import time
import traceback
import unittest

from .skips import SKIPS_FILE, allowed_skips


def describe(test):
    """'core: attaches within 2s' for test_core.CoreSuite.test_attaches_within_2s."""
    name = getattr(test, "_testMethodName", None)
    if not name:  # a class or module fixture that failed
        return str(test)
    return name[len("test_"):].replace("_", " ") if name.startswith("test_") else name


class ClosingLineResult(unittest.TestResult):
    """Prints `ok`/`FAIL`/`SKIP` per test with its time, counts them."""

    def __init__(self, allowed):
        super().__init__()
        self.allowed = allowed
        self.passed = self.failed_count = self.skipped_count = 0
        self.t0 = time.time()

    def startTest(self, test):
        super().startTest(test)
        self.t0 = time.time()

    def took(self):
        return time.time() - self.t0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        print("ok   %s (%.1fs)" % (describe(test), self.took()), flush=True)

    def fail(self, test, err, why="FAIL"):
        self.failed_count += 1
        print("%s %s (%.1fs)" % (why, describe(test), self.took()), flush=True)
        if err is not None:
            print("".join(traceback.format_exception(*err)), end="", flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.fail(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self.fail(test, err)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.fail(subtest, err)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.fail(test, None, "FAIL (unexpected success)")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.fail(test, err, "FAIL (expected failures are not allowed)")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if test.id() in self.allowed:
            self.skipped_count += 1
            print("SKIP %s: %s (allowed: %s)" % (describe(test), reason, self.allowed[test.id()]),
                  flush=True)
        else:
            self.fail(test, None, "FAIL (skipped: %s; not in %s)" % (reason, SKIPS_FILE))


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    name, start = argv[1], argv[2]
    pattern = argv[3] if len(argv) == 4 else "test_*.py"
    suite = unittest.TestLoader().discover(start, pattern=pattern, top_level_dir=start)
    result = ClosingLineResult(allowed_skips())
    if suite.countTestCases() == 0:
        print("FAIL no test found in %s/%s" % (start, pattern))
        result.failed_count += 1
    else:
        suite.run(result)
    print("%s: %d passed, %d failed, %d skipped" % (name, result.passed, result.failed_count,
                                                    result.skipped_count))
    return 1 if result.failed_count else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
