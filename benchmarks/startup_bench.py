"""Start-up wall time of the command line: ``servechain --help``, ``servechain serve --help``
and ``servechain console`` up to its first prompt (in a pseudo-terminal, on a fresh embedded
store the first time, then on the seeded one), each run N times in a fresh process.

    .venv/bin/python benchmarks/startup_bench.py [--runs 10]

Target (issue 15): ``servechain --help`` under 0.25 s wall. Prints median, p90 and min per
command, and the user+system CPU of the median ``--help`` run.
"""

from __future__ import annotations

import argparse
import os
import pty
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVECHAIN = Path(sys.executable).parent / "servechain"
PROMPT = b"servechain"


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVECHAIN_", "SLACK_", "MICROSOFT_"))}
    env["SERVECHAIN_DB"] = str(db)
    return env


def time_command(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run to its exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([str(SERVECHAIN), *argv], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def time_console_prompt(env: dict[str, str], timeout: float = 30.0) -> float:
    """Wall seconds from starting ``servechain console`` in a terminal to its first prompt."""
    leader, follower = pty.openpty()
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(SERVECHAIN), "console"], env=env, cwd=ROOT, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    seen = b""
    try:
        while True:
            remaining = timeout - (time.perf_counter() - started)
            if remaining <= 0:
                raise TimeoutError(f"no prompt within {timeout} s; saw {seen[-200:]!r}")
            ready, _w, _x = select.select([leader], [], [], remaining)
            if ready:
                seen += os.read(leader, 4096)
                if seen.rstrip().endswith(b">") and PROMPT in seen.splitlines()[-1]:
                    return time.perf_counter() - started
    finally:
        process.kill()
        process.wait()
        os.close(leader)


def summary(name: str, walls: list[float]) -> str:
    ordered = sorted(walls)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{name:<32} median {statistics.median(walls):6.3f} s   p90 {p90:6.3f} s   min {ordered[0]:6.3f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = _env(Path(folder) / "servechain.json")
        help_runs = [time_command(["--help"], env) for _ in range(args.runs)]
        serve_help = [time_command(["serve", "--help"], env)[0] for _ in range(args.runs)]
        first_console = time_console_prompt(env)  # creates and seeds the store
        console = [time_console_prompt(env) for _ in range(args.runs)]
    walls = [wall for wall, _cpu in help_runs]
    median_cpu = statistics.median(cpu for _wall, cpu in help_runs)
    print(f"{args.runs} runs each, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(summary("servechain --help", walls) + f"   (CPU {median_cpu:.3f} s; target: wall < 0.25 s)")
    print(summary("servechain serve --help", serve_help))
    print(summary("servechain console (to prompt)", console) + f"   (first start, seeding: {first_console:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
