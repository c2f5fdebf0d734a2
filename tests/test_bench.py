"""The benchmarks run and print their tables (their figures are for people, not asserts)."""

from __future__ import annotations

import subprocess
import sys


def bench(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "kubelab", "bench", *args], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bench_lists_the_benchmarks():
    out = bench()
    for name in ("api", "scheduler", "controllers", "pods"):
        assert f"  {name} " in out


def test_bench_controllers_prints_its_table():
    out = bench("controllers", "--replicas", "5", "--nodes", "2", "--runs", "1")
    assert "Deployment of 5 replicas to 5 pods bound" in out
    assert "all bound p50 (s)" in out


def test_bench_api_prints_its_tables():
    out = bench("api", "--stores", "memory", "--requests", "32")
    assert "Time from start to /readyz" in out
    for operation in ("create", "get", "list 100", "watch delivery"):
        assert f"  {operation}  " in out
    assert "Load average (1 min) before: " in out
