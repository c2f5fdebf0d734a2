import os
import sys
import textwrap
import time

import pytest

from kubelab.process import ManagedProcess, ProcessFailed

CHILD = textwrap.dedent(
    """
    import sys, time
    from kubelab.process import report_ready, watch_parent
    watch_parent()
    report_ready(port=1234)
    time.sleep(60)
    """
)


def test_child_reports_ready_and_stops_on_sigterm(tmp_path):
    p = ManagedProcess("child", [sys.executable, "-c", CHILD], tmp_path / "child.log")
    assert p.start() == {"port": 1234}
    assert p.alive()
    p.stop(grace=5)
    assert not p.alive()


GRACEFUL_CHILD = textwrap.dedent(
    """
    import signal, threading
    from kubelab.process import report_ready, watch_parent
    watch_parent()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    report_ready()
    stopping.wait()
    """
)


def test_a_child_that_handles_sigterm_exits_cleanly_while_watching_its_parent(tmp_path):
    p = ManagedProcess("graceful", [sys.executable, "-c", GRACEFUL_CHILD], tmp_path / "g.log")
    p.start()
    assert p.stop(grace=5) == 0, (tmp_path / "g.log").read_text()


def test_child_that_dies_before_ready_is_reported_with_its_log(tmp_path):
    p = ManagedProcess("broken", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], tmp_path / "b.log")
    with pytest.raises(ProcessFailed, match=r"(?s)exited \(code 3\).*boom"):
        p.start()


def test_child_exits_when_its_parent_is_killed(tmp_path):
    # A middle process starts a grandchild through ManagedProcess, then is SIGKILLed:
    # the grandchild must notice and exit.
    pidfile = tmp_path / "grandchild.pid"
    middle = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from kubelab.process import ManagedProcess, report_ready
        p = ManagedProcess("gc", [sys.executable, "-c", {CHILD!r}], Path({str(tmp_path / 'gc.log')!r}))
        p.start()
        Path({str(pidfile)!r}).write_text(str(p.pid))
        report_ready()
        time.sleep(60)
        """
    )
    m = ManagedProcess("middle", [sys.executable, "-c", middle], tmp_path / "m.log")
    m.start()
    grandchild = int(pidfile.read_text())
    m.kill()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("the grandchild outlived its killed parent")
