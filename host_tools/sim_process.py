"""Start a simulated-hardware process (PZEM simulator, ADC feeder) and wait until it says it
is ready: its output goes to a log file (so nobody has to drain a pipe) and the wait reads
only what this start appended."""
import subprocess
import time


def start(argv, log_path, name, ready, cwd=None, env=None, timeout=10):
    """Popen argv with stdout/stderr appended to log_path; return it once ready(new log text)
    is true. If it exits or times out first, kill it and raise RuntimeError with the log."""
    with open(log_path, "a") as log:
        start_at = log.tell()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)

    def text():
        with open(log_path) as f:
            f.seek(start_at)
            return f.read()

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(text()):
            return p
        if p.poll() is not None:
            break
        time.sleep(0.02)
    p.kill()
    p.wait()
    raise RuntimeError(f"{name} did not start (exit {p.poll()}): {text()[-2000:]}")
