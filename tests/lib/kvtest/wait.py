"""Waiting, bounded, for something to become true."""

import time

from .paths import TIME_SCALE


class Fatal(RuntimeError):
    """A failure that waiting longer cannot mend (the process died): a
    predicate raises it to end wait_for at once."""


def wait_for(pred, timeout, step=0.1, what="condition"):
    """pred()'s first true value within timeout (scaled by TIME_SCALE) seconds;
    an exception from pred counts as not yet, except Fatal. AssertionError
    on timeout, with the last value or exception seen."""
    timeout *= TIME_SCALE
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Fatal:
            raise
        except Exception as e:  # the thing waited for may not answer yet
            last = e
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
