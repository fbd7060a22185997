"""The worker channel's batching: how many writes a burst of messages takes."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest

import flyte
from flyte._controller.channel import Channel


@pytest.fixture
def pair() -> Iterator[tuple[Channel, Channel, list[bytes]]]:
    """Two connected channels; `writes` collects each write the first one makes."""
    left, right = multiprocessing.Pipe()
    sender, receiver = Channel(left), Channel(right)
    writes: list[bytes] = []
    send_frames = sender._send_frames

    def counted(frame: bytes) -> None:
        writes.append(frame)
        send_frames(frame)

    sender._send_frames = counted  # type: ignore[method-assign]
    yield sender, receiver, writes
    sender.close()
    receiver.close()


def _received(receiver: Channel, n: int) -> list[tuple[Any, ...]]:
    return [receiver.recv() for _ in range(n)]


def test_held_replies_leave_in_one_write_when_flushed(
    pair: tuple[Channel, Channel, list[bytes]],
) -> None:
    sender, receiver, writes = pair
    loop = asyncio.new_event_loop()
    try:
        sender.hold()
        for i in range(3):
            sender.send_soon(("done", i), loop)
        assert writes == []  # held: not even the first went yet
        sender.flush_soon()
        assert len(writes) == 1
        assert _received(receiver, 3) == [("done", 0), ("done", 1), ("done", 2)]
        # The hold ended with the flush: a lone message goes at once again.
        sender.send_soon(("done", 3), loop)
        assert len(writes) == 2
        assert _received(receiver, 1) == [("done", 3)]
    finally:
        loop.close()


def test_a_turns_first_message_goes_at_once_and_the_rest_at_its_end(
    pair: tuple[Channel, Channel, list[bytes]],
) -> None:
    sender, receiver, writes = pair
    loop = asyncio.new_event_loop()
    try:

        async def burst() -> None:
            for i in range(4):
                sender.send_soon(("run", i), loop)
            assert len(writes) == 1  # the first, at once (a round trip waits for nothing)
            await asyncio.sleep(0)  # the turn ends: the other three in one write

        loop.run_until_complete(burst())
        assert len(writes) == 2
        assert _received(receiver, 4) == [("run", i) for i in range(4)]
    finally:
        loop.close()


def test_send_soon_to_a_peer_that_is_gone_does_not_raise(
    pair: tuple[Channel, Channel, list[bytes]],
) -> None:
    sender, receiver, _ = pair
    receiver.close()
    loop = asyncio.new_event_loop()
    try:
        for i in range(3):  # its EOF, on the reading side, is what reports the loss
            sender.send_soon(("done", i), loop)
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()


def test_flytes_own_errors_that_cannot_be_unpickled_keep_their_class() -> None:
    # `except flyte.errors.OOMError` in a parent body must catch its child's OOM even when
    # the pickled error cannot be rebuilt in the parent's process (it arrives by name).
    import pickle

    from flyte._controller.channel import unpack_error
    from flyte.errors import OOMError, RuntimeUserError

    by_name = pickle.dumps((None, "Traceback ...", "OOMError", "crunch ran over its limit"))
    exc = unpack_error(by_name)
    assert isinstance(exc, OOMError) and exc.code == "OOMError"
    assert str(exc) == "crunch ran over its limit"
    broken = pickle.dumps((b"not a pickle", "tb", "KeyError", "'k'"))
    other = unpack_error(broken)
    assert type(other) is RuntimeUserError and other.code == "KeyError"


def test_two_threads_loading_one_script_task_both_get_the_task(tmp_path: Any) -> None:
    """A Dask worker with several threads may load a task from a script file (not
    importable by name there) on two threads at once. The module sat in sys.modules
    before it had run, so the second thread took the half-run module and failed."""
    import sys
    import threading

    from flyte._controller.channel import TaskRef, load_task

    script = tmp_path / "slow_script_mod.py"
    script.write_text(
        "import time\n"
        "time.sleep(0.3)  # a module that takes a while to import\n"
        "def the_task():\n"
        "    return 42\n"
    )
    name = "flyte_test_not_importable_slow_script"
    ref = TaskRef(name, "the_task", str(script), "k")
    got: list[Any] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            got.append(load_task(f"{name}:the_task", ref))
        except BaseException as exc:  # the failure under test
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    try:
        threads[0].start()
        while name not in sys.modules and threads[0].is_alive():  # the first is importing
            threading.Event().wait(0.005)
        threads[1].start()
        for thread in threads:
            thread.join(10)
        assert not errors, repr(errors[0])
        assert [task() for task in got] == [42, 42]
    finally:
        sys.modules.pop(name, None)


def test_a_script_task_whose_module_fails_to_run_can_be_loaded_again(tmp_path: Any) -> None:
    """A module that raised while it ran is not left half-made in sys.modules for the
    next attempt to use."""
    import sys

    from flyte._controller.channel import TaskRef, load_task

    flag = tmp_path / "fail-once"
    flag.write_text("x")
    script = tmp_path / "flaky_script_mod.py"
    script.write_text(
        "import os\n"
        f"if os.path.exists({str(flag)!r}):\n"
        f"    os.remove({str(flag)!r})\n"
        "    raise RuntimeError('first import fails')\n"
        "def the_task():\n"
        "    return 7\n"
    )
    name = "flyte_test_not_importable_flaky_script"
    ref = TaskRef(name, "the_task", str(script), "k2")
    try:
        with pytest.raises(RuntimeError, match="first import fails"):
            load_task(f"{name}:the_task", ref)
        assert load_task(f"{name}:the_task", ref)() == 7
    finally:
        sys.modules.pop(name, None)


def test_a_request_made_as_the_driver_is_found_gone_fails_at_once(pair: Any) -> None:
    """A Dask worker's link fails every waiting request when its driver goes away. One
    registered just after that sweep (but sent before the channel closed) was never
    answered: its body, and the worker thread under it, waited forever."""
    import threading

    from flyte._controller.channel import pack_error
    from flyte._controller.worker import WorkerController
    from flyte.errors import ActionAborted

    sender, _receiver, _ = pair
    controller = WorkerController(sender)
    controller.driver_gone(pack_error(ActionAborted("the driver of this run went away")))
    outcome: list[BaseException | str] = []

    def ask() -> None:
        try:
            controller.request(("trace_lookup", "run", "id"))
            outcome.append("answered")
        except BaseException as exc:  # what the body sees
            outcome.append(exc)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    asker.join(10)
    assert not asker.is_alive(), "the request waited for a driver that is gone"
    assert isinstance(outcome[0], ActionAborted), outcome


def test_cancelling_one_attempt_on_a_worker_leaves_the_run_s_other_bodies_free(
    pair: Any,
) -> None:
    """A Dask worker cancels one sync attempt (its timeout) by its key. It marked the
    worker's whole run aborted: every later body of that run on that worker was refused
    its calls to other tasks. Only the cancelled body's calls are refused now."""
    from flyte._context import ActionContext
    from flyte._controller.worker import WorkerController
    from flyte.errors import ActionAborted

    env = flyte.TaskEnvironment("cancel_scope")

    @env.task
    def child(x: int) -> int:
        return x

    sender, _receiver, _ = pair
    controller = WorkerController(sender)
    run = controller._run_for("r-1", "local", {}, False, {})
    controller._tasks[7] = (run, "a1:1")  # a sync attempt running here, as start_attempt keeps it
    controller.cancel(7)
    timed_out = ActionContext(run=run, action_id="a1", task_name="cancel_scope.t", attempt=1)  # type: ignore[arg-type]
    other = ActionContext(run=run, action_id="a2", task_name="cancel_scope.t", attempt=1)  # type: ignore[arg-type]
    with pytest.raises(ActionAborted):
        controller.prepare(child, timed_out, (1,), {})
    controller.prepare(child, other, (1,), {})  # checked and ready to send: not refused
