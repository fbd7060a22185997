"""Faults that used to hang the driver, each run in a subprocess with a deadline.

A task body that calls sys.exit() or raises KeyboardInterrupt, sync tasks nested deeper
than the thread pool is wide, Ctrl-C during a blocking body, and a timeout on a blocking
body. Each program must end on its own; a hang fails the test at the deadline (the
deadline is a bound on a hang, the programs finish in about a second).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

DEADLINE = 60.0

HEADER = """\
import asyncio, os, sys, time
import flyte

env = flyte.TaskEnvironment("faults")
"""


REPORT = """
def report(task, *args):
    run = flyte.with_runcontext(raise_on_failure=False, echo=False).run(task, *args)
    exc = run.exception()
    print("PHASE", run.phase.value)
    print("ERROR", type(exc).__name__ if exc else None, getattr(exc, "code", None), exc)
    for action in run.actions():
        print("ACTION", action.name, action.phase.value, action.error_type)
"""


def run_program(
    tmp_path: Path, body: str, *, interrupt_after: str | None = None
) -> tuple[int, str]:
    """Run HEADER + body as a script; return (exit code, stdout + stderr).

    With `interrupt_after`, send SIGINT once that text appears on stdout (Ctrl-C).
    """
    script = tmp_path / "program.py"
    script.write_text(HEADER + REPORT + textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(tmp_path / "home")
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        if interrupt_after is not None:
            assert proc.stdout is not None
            seen = ""
            end = time.monotonic() + DEADLINE
            while interrupt_after not in seen and time.monotonic() < end:
                line = proc.stdout.readline()
                if not line:
                    break
                seen += line
            proc.send_signal(signal.SIGINT)
            rest, _ = proc.communicate(timeout=DEADLINE)
            return proc.returncode, seen + rest
        out, _ = proc.communicate(timeout=DEADLINE)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the program hung (killed after {DEADLINE:.0f} s); output:\n{out[-3000:]}")


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_sys_exit_in_a_task_ends_the_run_failed(tmp_path: Path, kind: str) -> None:
    code, out = run_program(
        tmp_path,
        f"""
        @env.task
        {"async " if kind == "async" else ""}def quits() -> int:
            sys.exit(3)

        @env.task
        async def main() -> int:
            return await quits.aio()
        report(main)
        print("EXITED NORMALLY")
        """,
    )
    assert code == 0, out
    assert "PHASE FAILED" in out
    assert "ACTION faults.quits FAILED SystemExit" in out
    assert "sys.exit(3)" in out
    assert "EXITED NORMALLY" in out


def test_keyboard_interrupt_raised_in_a_task_fails_it(tmp_path: Path) -> None:
    code, out = run_program(
        tmp_path,
        """
        @env.task
        async def interrupts() -> int:
            raise KeyboardInterrupt

        @env.task
        async def main() -> int:
            return await interrupts()
        report(main)
        """,
    )
    assert code == 0, out
    assert "PHASE FAILED" in out
    assert "ACTION faults.interrupts FAILED KeyboardInterrupt" in out


def test_300_gathered_sync_tasks_calling_sync_tasks(tmp_path: Path) -> None:
    code, out = run_program(
        tmp_path,
        """
        @env.task
        def leaf(i: int) -> int:
            return i

        @env.task
        def mid(i: int) -> int:
            return leaf(i) + 1

        @env.task
        async def main(n: int) -> int:
            return sum(await asyncio.gather(*(mid.aio(i) for i in range(n))))
        report(main, 300)
        """,
    )
    assert code == 0, out
    assert "PHASE SUCCEEDED" in out


def test_flyte_map_of_300_sync_tasks_calling_sync_tasks(tmp_path: Path) -> None:
    code, out = run_program(
        tmp_path,
        """
        @env.task
        def leaf(i: int) -> int:
            return i

        @env.task
        def mid(i: int) -> int:
            return leaf(i) + 1

        @env.task
        def main(n: int) -> int:
            return sum(flyte.map(mid, range(n)))
        report(main, 300)
        """,
    )
    assert code == 0, out
    assert "PHASE SUCCEEDED" in out


def test_sync_recursion_257_deep(tmp_path: Path) -> None:
    code, out = run_program(
        tmp_path,
        """
        @env.task
        def down(n: int) -> int:
            return 0 if n == 0 else down(n - 1) + 1

        report(down, 257)
        """,
    )
    assert code == 0, out
    assert "PHASE SUCCEEDED" in out


def test_ctrl_c_during_a_blocking_sync_task_exits(tmp_path: Path) -> None:
    code, out = run_program(
        tmp_path,
        """
        @env.task
        def blocks() -> int:
            print("STARTED", flush=True)
            time.sleep(300)
            return 1

        try:
            flyte.run(blocks)
        except KeyboardInterrupt:
            print("INTERRUPTED")
        """,
        interrupt_after="STARTED",
    )
    assert "INTERRUPTED" in out, out
    assert code == 0, out


def test_a_print_in_flight_when_the_run_ends_does_not_crash_the_process(tmp_path: Path) -> None:
    # print() holds only a borrowed reference to sys.stdout. The run's end used to put the
    # real stream back and free flyte's router while a thread was still inside print() on
    # it: a segfault (seen as Ctrl-C during a printing body crashing the process).
    code, out = run_program(
        tmp_path,
        """
        import gc, threading

        class Held:
            \"""The user's stdout: a write of "HELD" waits until `go` is set.\"""
            def __init__(self, real):
                self.real, self.entered, self.go = real, threading.Event(), threading.Event()
            def write(self, text):
                if text == "HELD":
                    self.entered.set()
                    self.go.wait(30)
                return self.real.write(text)
            def flush(self):
                self.real.flush()

        sys.stdout = held = Held(sys.stdout)
        printers = []

        @env.task
        def main() -> int:
            # A thread of the user's own (no action context) prints through the router.
            printer = threading.Thread(target=lambda: print("HELD", flush=True))
            printer.start()
            held.entered.wait(30)
            printers.append(printer)
            return 1

        flyte.run(main)
        gc.collect()
        reused = [type(f"T{i}", (), {})() for i in range(20_000)]
        held.go.set()
        printers[0].join()
        print("SURVIVED")
        """,
    )
    assert code == 0, out
    assert "HELD\nSURVIVED" in out, out


def test_a_timeout_on_a_blocking_sync_body_ends_the_process(tmp_path: Path) -> None:
    code, out = run_program(
        tmp_path,
        """
        @env.task(timeout=1)
        def blocks() -> int:
            time.sleep(300)
            return 1

        report(blocks)
        import flyte._run
        store = flyte._run.current_store()
        (action,) = store.list_actions(store.list_runs(limit=1)[0].name)
        print("TRACEBACK", action.traceback)
        """,
    )
    assert code == 0, out
    assert "PHASE TIMED_OUT" in out
    assert "time.sleep(300)" in out, "the traceback shows where the body was stopped"


def test_workers_exit_when_their_driver_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "program.py"
    script.write_text(
        HEADER
        + textwrap.dedent(
            """
            worker = flyte.TaskEnvironment("faults_w", resources=flyte.Resources(memory="1Gi"))

            @worker.task
            def blocks() -> int:
                print("WORKER", os.getpid(), flush=True)
                time.sleep(300)
                return 1

            flyte.run(blocks)
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("WORKER"), line
        pid = int(line.split()[1])
        proc.kill()  # SIGKILL: no atexit, no cleanup in the driver
        proc.wait(DEADLINE)
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end and _alive(pid):
            time.sleep(0.05)
        assert not _alive(pid), "the worker outlived its driver"
    finally:
        proc.kill()
        proc.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _zygotes_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if ppid == pid and b"flyte._controller.zygote" in cmdline:
            found.append(int(entry))
    return found


def test_the_worker_zygote_exits_when_its_driver_is_killed_even_if_a_fork_holds_its_socket(
    tmp_path: Path,
) -> None:
    """A SIGKILLed driver leaves no zygote behind, though a process it forked keeps fds open."""
    script = tmp_path / "driver.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, time
            import flyte

            env = flyte.TaskEnvironment("z", resources=flyte.Resources(memory="300Mi"))

            @env.task
            def one() -> int:
                return 1

            if __name__ == "__main__":
                assert flyte.run(one).outputs()[0] == 1
                if os.fork() == 0:  # a child that inherits every open socket
                    time.sleep(60)
                    os._exit(0)
                print("ready", flush=True)
                time.sleep(60)
            """
        )
    )
    driver = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert driver.stdout is not None
        assert driver.stdout.readline().strip() == "ready"
        zygotes = _zygotes_of(driver.pid)
        assert zygotes, "the driver started a zygote"
        driver.kill()
        driver.wait(timeout=30)
        deadline = time.monotonic() + 20
        alive = zygotes
        while alive and time.monotonic() < deadline:
            alive = [z for z in alive if os.path.exists(f"/proc/{z}") and not _is_zombie(z)]
            time.sleep(0.1)
        assert alive == [], "the zygote outlived its driver"
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
