"""The firmware as the simulated meters run it: frozen into the unix port
(host_tools/frozen.py), from MicroPython's source fetched by host_tools/upy_source.py."""
import subprocess

from host_tools import build as fwbuild
from host_tools import frozen, upy_source


def test_archive_uris_from_both_apt_source_formats(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\nTypes: deb\n"
        "URIs: https://other.example/apt\nSuites: stable\nComponents: main\n")
    (tmp_path / "sources.list").write_text(
        "# a comment\ndeb [arch=amd64] http://old.example/debian bookworm main contrib\n"
        "deb http://mirror.example/debian bookworm main\n")
    assert upy_source.archive_uris(str(tmp_path)) == ["http://mirror.example/debian",
                                                      "http://old.example/debian"]


def test_every_firmware_module_is_frozen_in(tmp_path):
    """From an empty flash, every module of the bundle imports, and from the binary."""
    fw = frozen.firmware("unix_sim")
    names = []
    for _, rel in fwbuild.sources("unix_sim"):
        if rel in fwbuild.KEEP_SOURCE or rel.endswith(("adc_sim.py", "adc_feeder.py")):
            continue            # main.py is on flash; these are the host feeder's program
        rel = rel[4:] if rel.startswith("lib/") else rel
        names.append(rel[:-3].replace("/__init__", "").replace("/", "."))
    script = ("import sys\nfor n in %r:\n    __import__(n)\n    f = sys.modules[n].__file__\n"
              "    print(n, f)\n" % names)
    r = subprocess.run([str(fw / "micropython"), "-X", "heapsize=128k", "-c", script],
                       cwd=tmp_path, env={"MICROPYPATH": ".frozen"}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    seen = dict(ln.split(" ", 1) for ln in r.stdout.splitlines())
    assert sorted(seen) == sorted(names)
    assert not [f for f in seen.values() if f.startswith("/")]   # none read from a filesystem
    assert (fw / "main.py").exists() and (fw / "www" / "words.en.txt").exists()
