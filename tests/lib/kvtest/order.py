"""Tests of one class share a set-up (a cluster, an agent) and build on each
other, so they run in the order they are written, classes too; unittest
alone sorts them by name. A test module says `load_tests = in_written_order`,
and both the runner and `python3 -m unittest discover` keep that order."""

import inspect
import unittest


def _line(test):
    """Where a test method is written."""
    method = getattr(type(test), test._testMethodName, None)
    code = getattr(method, "__code__", None)
    return code.co_firstlineno if code else 0


def _class_line(cls):
    try:
        return inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return 0


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


def in_written_order(loader, tests, pattern):
    """The load_tests protocol: the module's tests, class by class in the
    order the classes are written, each class's tests in written order."""
    by_class = {}
    for t in _flatten(tests):
        by_class.setdefault(type(t), []).append(t)
    out = unittest.TestSuite()
    for cls in sorted(by_class, key=_class_line):
        out.addTest(unittest.TestSuite(sorted(by_class[cls], key=_line)))
    return out
