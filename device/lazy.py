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


def drop_since(before, exc):
    """After import failed with `exc`: drop what the attempt loaded (modules not in the set
    `before`) and the modules it interrupted. MicroPython 1.26 takes an interrupted module
    out of sys.modules but leaves it in the table's deleted slot, reachable with everything
    it imported; storing the name again reuses that slot and deleting it clears it. They are
    the `<module>` frames of the traceback ("web/app.mpy" or, frozen, "web/app.py")."""
    import io
    buf = io.StringIO()
    sys.print_exception(exc, buf)
    for line in buf.getvalue().split("\n"):
        if line.endswith("in <module>") and '"' in line:
            name = line.split('"')[1].rpartition(".")[0].replace("/", ".")
            if name.endswith(".__init__"):
                name = name[:-9]
            if name not in sys.modules:     # a module still present is still running
                sys.modules[name] = None
                del sys.modules[name]
    forget_since(before)


def forget_since(before):
    """Drop every module imported since `before` (a set of sys.modules names)."""
    for name in list(sys.modules):
        if name not in before:
            forget(name)
