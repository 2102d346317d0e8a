# Prepaid credit (docs/relay.md, docs/tokens.md): core.Credit is the facade.


def forget(name):
    """Drop a module loaded for one job so the GC can free its code: boot-only checks
    (conf, tariff_parse), the token codec and the consumer actions (MicroPython frugality;
    harmless on CPython)."""
    import sys
    sys.modules.pop(name, None)
    pkg, _, sub = name.rpartition(".")
    p = sys.modules.get(pkg)
    if p is not None and sub in dir(p):
        delattr(p, sub)
