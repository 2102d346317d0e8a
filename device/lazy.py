# Modules loaded for one job (boot checks, the token codec, sync commands, web pages) and
# dropped after, so the GC can free their code: the meter's heap is scarce.
import sys


def forget(name):
    """Drop module `name` (and its attribute on its package) from the import system."""
    sys.modules.pop(name, None)
    pkg, _, sub = name.rpartition(".")
    p = sys.modules.get(pkg)
    if p is not None and sub in p.__dict__:
        del p.__dict__[sub]
