"""How long `zoo --help` (and a registry subcommand's help) takes, in wall time.

Run: .venv/bin/python benchmarks/cli_startup.py [--runs 15]
Prints the median and the spread of each command over fresh interpreters, and
whether torch got imported; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def measure(command: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` fresh runs of ``command`` (one warm-up run first)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, capture_output=True, env=env, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, env=env, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    zoo = shutil.which("zoo") or str(Path(sys.executable).with_name("zoo"))
    for argv in (["--help"], ["models", "--help"], ["tasks", "--help"]):
        times = measure([zoo, *argv], args.runs)
        print(
            f"zoo {' '.join(argv):<16} median {statistics.median(times) * 1000:7.1f} ms   "
            f"min {min(times) * 1000:7.1f} ms   max {max(times) * 1000:7.1f} ms   ({args.runs} runs)"
        )
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from zoo.cli import main\n"
            "sys.argv=['zoo','--help']\ntry: main()\nexcept SystemExit: pass\n"
            "print('torch imported:', 'torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
    )
    print(probe.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
