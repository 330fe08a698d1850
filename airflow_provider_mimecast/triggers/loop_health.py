"""Keeping the triggerer's event loop responsive: the one thing the poller does about CPython's garbage
collector.

With 1,000 waits the longest stall of the event loop in the waits benchmark was a full (generation 2)
collection of the cyclic garbage collector: it scans every tracked object of the process, some 170,000 in a
process that has imported Airflow (more in a real triggerer), about 110 ms on a busy core, at a moment
chosen by allocation counts, inside whichever callback happens to allocate. The waits' own objects are a
small part of that; the rest are modules, classes and functions imported at start-up, which live as long
as the process. ``gc.freeze()`` (Python 3.7+) moves the objects that exist now into a permanent
generation that collections no longer scan, so later full collections cost in proportion to what was made
since. It is called once per process, when the first poller starts: everything the triggerer imported by
then stays frozen. The price: a reference cycle among the frozen objects, garbage then or later (another
provider's trigger running at that moment), is never freed; objects outside cycles are still freed by their
reference counts.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_objects() -> bool:
    """Exclude the objects that exist now from every later garbage collection, once per process.

    :return: True the first time (it froze), False after.
    """
    global _frozen
    if _frozen:
        return False
    _frozen = True
    gc.freeze()
    return True
