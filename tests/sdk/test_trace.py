"""Behaviour of `@flyte.trace` checkpoints: recording, nesting, generators and replay."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import flyte
from flyte import ActionKind, Phase


def traces(run: flyte.Run) -> list[Any]:
    return [a for a in run.actions() if a.kind is ActionKind.TRACE]


def by_short_name(run: flyte.Run) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for a in run.actions():
        short = a.name.rsplit(".", 1)[-1]
        assert short not in found, f"two actions named {short}"
        found[short] = a
    return found


# --- outside a task ----------------------------------------------------------------------


async def test_outside_a_task_a_trace_is_a_plain_call(store: Any) -> None:
    @flyte.trace
    def add(x: int, y: int = 1) -> int:
        return x + y

    @flyte.trace
    async def aadd(x: int) -> int:
        await asyncio.sleep(0)
        return x + 2

    @flyte.trace
    def count(n: int) -> Iterator[int]:
        yield from range(n)

    @flyte.trace
    async def acount(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    assert add(1) == 2 and add(1, y=5) == 6
    assert await aadd(1) == 3
    assert list(count(3)) == [0, 1, 2]
    assert [i async for i in acount(3)] == [0, 1, 2]
    assert add.__name__ == "add" and add.__doc__ is None  # wraps the function
    assert store.list_runs() == []  # nothing recorded


# --- recording ---------------------------------------------------------------------------


def test_sync_trace_in_sync_task_is_recorded_as_a_child(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_rec")

    @flyte.trace
    def fetch(url: str, retries: int = 2) -> dict[str, Any]:
        return {"url": url, "len": len(url)}

    @env.task
    def main(url: str) -> int:
        return fetch(url)["len"] + fetch(url + "/x")["len"]

    run = flyte.run(main, "http://a")
    assert run.outputs()[0] == 8 + 10
    recorded = traces(run)
    assert len(recorded) == 2
    for t in recorded:
        assert t.parent == "a0" and t.kind is ActionKind.TRACE
        assert t.name.endswith("fetch")
        assert t.phase is Phase.SUCCEEDED and not t.recovered
        assert t.started_at is not None and t.ended_at is not None and t.ended_at >= t.started_at
    inputs = {json.loads(t.inputs_json)["url"]: t for t in recorded}
    assert set(inputs) == {"http://a", "http://a/x"}
    first = inputs["http://a"]
    assert json.loads(first.inputs_json) == {"url": "http://a", "retries": 2}
    assert json.loads(first.outputs_json) == {"url": "http://a", "len": 8}
    assert len({t.id for t in recorded}) == 2


async def test_async_trace_in_async_task(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_async")

    @flyte.trace
    async def llm(prompt: str) -> str:
        await asyncio.sleep(0.01)
        return prompt.upper()

    @env.task
    async def main(words: list[str]) -> list[str]:
        return list(await asyncio.gather(*(llm(w) for w in words)))

    run = await flyte.run.aio(main, ["a", "b", "c"])
    assert run.outputs()[0] == ["A", "B", "C"]
    recorded = traces(run)
    assert sorted(json.loads(t.outputs_json) for t in recorded) == ["A", "B", "C"]
    assert all(t.parent == "a0" and t.phase is Phase.SUCCEEDED for t in recorded)


@pytest.mark.timeout(20)
def test_sync_trace_in_async_task_does_not_deadlock(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_mixed")

    @flyte.trace
    def blocking(x: int) -> int:
        return x * 2

    @env.task
    async def main(n: int) -> int:
        total = 0
        for i in range(n):
            total += blocking(i)
        return total

    run = flyte.run(main, 4)
    assert run.outputs()[0] == 12
    assert len(traces(run)) == 4


def test_async_trace_in_sync_task(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_async_in_sync")

    @flyte.trace
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    @env.task
    def main(x: int) -> int:
        return asyncio.run(fetch(x))

    run = flyte.run(main, 1)
    assert run.outputs()[0] == 2
    [t] = traces(run)
    assert t.parent == "a0" and json.loads(t.outputs_json) == 2


def test_generator_traces_yield_items_and_record_them(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_gen")

    @flyte.trace
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            yield i * i

    @env.task
    def main(n: int) -> list[int]:
        return [x + 1 for x in numbers(n)]

    run = flyte.run(main, 4)
    assert run.outputs()[0] == [1, 2, 5, 10]
    [t] = traces(run)
    assert t.phase is Phase.SUCCEEDED and json.loads(t.outputs_json) == [0, 1, 4, 9]


async def test_async_generator_traces_yield_items_and_record_them(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_agen")

    @flyte.trace
    async def stream(n: int) -> AsyncIterator[str]:
        for i in range(n):
            await asyncio.sleep(0)
            yield f"tok{i}"

    @env.task
    async def main(n: int) -> str:
        return " ".join([tok async for tok in stream(n)])

    run = await flyte.run.aio(main, 3)
    assert run.outputs()[0] == "tok0 tok1 tok2"
    [t] = traces(run)
    assert t.phase is Phase.SUCCEEDED and json.loads(t.outputs_json) == ["tok0", "tok1", "tok2"]


def test_nested_traces_are_recorded_under_their_caller(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_nested")

    @flyte.trace
    def inner(x: int) -> int:
        return x + 1

    @flyte.trace
    def outer(x: int) -> int:
        return inner(x) * 10

    @env.task
    def main(x: int) -> int:
        return outer(x)

    run = flyte.run(main, 1)
    assert run.outputs()[0] == 20
    acts = by_short_name(run)
    assert acts["outer"].parent == "a0"
    assert acts["inner"].parent == acts["outer"].id
    assert acts["inner"].kind is acts["outer"].kind is ActionKind.TRACE
    assert json.loads(acts["inner"].outputs_json) == 2


def test_trace_error_is_recorded_and_reaches_the_task_as_its_own_type(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_err")

    @flyte.trace
    def flaky(x: int) -> int:
        raise KeyError(f"missing {x}")

    @env.task
    def main(x: int) -> str:
        try:
            flaky(x)
        except KeyError as exc:
            return f"caught {exc.args[0]}"
        return "not caught"

    run = flyte.run(main, 7)
    assert run.outputs()[0] == "caught missing 7"
    [t] = traces(run)
    assert t.phase is Phase.FAILED and t.error_type == "KeyError"
    assert "missing 7" in (t.error_message or "")
    assert t.ended_at is not None


def test_calling_a_task_inside_a_trace_raises_trace_call_error(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_call")

    @env.task
    def child(x: int) -> int:
        return x

    @flyte.trace
    def sneaky(x: int) -> int:
        return child(x)

    @env.task
    def main(x: int) -> int:
        return sneaky(x)

    with pytest.raises(flyte.errors.TraceCallError):
        flyte.run(main, 1)
    run = store.list_runs(limit=1)[0]
    assert run.phase is Phase.FAILED
    assert not any(a.name == "trace_call.child" for a in store.list_actions(run.name))


async def test_calling_an_async_task_inside_an_async_trace_raises(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_call_async")

    @env.task
    async def child(x: int) -> int:
        return x

    @flyte.trace
    async def sneaky(x: int) -> int:
        return await child(x)

    @env.task
    async def main(x: int) -> str:
        try:
            await sneaky(x)
        except flyte.errors.TraceCallError as exc:
            return "refused: " + str(exc)
        return "allowed"

    run = await flyte.run.aio(main, 1)
    assert run.outputs()[0].startswith("refused: ")
    assert "trace" in run.outputs()[0]


# --- replay on retry ---------------------------------------------------------------------


def _three_trace_program(is_async: bool) -> tuple[Any, Counter[str]]:
    """A task with retries=1 that calls three traces and fails after trace 2, once."""
    env = flyte.TaskEnvironment(f"replay_{'async' if is_async else 'sync'}")
    ran: Counter[str] = Counter()

    @flyte.trace
    def step1(x: int) -> int:
        ran["step1"] += 1
        return x + 1

    @flyte.trace
    async def step2(x: int) -> int:
        ran["step2"] += 1
        return x * 10

    @flyte.trace
    def step3(x: int) -> int:
        ran["step3"] += 1
        return x - 3

    def fail_once() -> None:
        ran["attempts"] += 1
        if ran["attempts"] == 1:
            raise ConnectionError("transient failure after step2")

    if is_async:

        @env.task(retries=1)
        async def main(x: int) -> int:
            a = step1(x)
            b = await step2(a)
            fail_once()
            return step3(b)

    else:

        @env.task(retries=1)
        def main(x: int) -> int:
            a = step1(x)
            b = asyncio.run(step2(a))
            fail_once()
            return step3(b)

    return main, ran


@pytest.mark.parametrize("is_async", [False, True], ids=["sync_task", "async_task"])
def test_retry_replays_traces_that_already_succeeded(store: Any, is_async: bool) -> None:
    main, ran = _three_trace_program(is_async)

    run = flyte.run(main, 1)

    assert run.outputs()[0] == (1 + 1) * 10 - 3
    assert ran == Counter(attempts=2, step1=1, step2=1, step3=1)
    root = by_short_name(run)["main"]
    assert root.attempts == 2 and root.phase is Phase.SUCCEEDED
    steps = {t.name.rsplit(".", 1)[-1]: t for t in traces(run)}
    assert set(steps) == {"step1", "step2", "step3"}
    assert steps["step1"].recovered and steps["step2"].recovered  # replayed
    assert not steps["step3"].recovered
    assert all(t.phase is Phase.SUCCEEDED and t.parent == "a0" for t in steps.values())
    assert json.loads(steps["step2"].outputs_json) == 20
    attempts = store.list_attempts(run.name, "a0")
    assert [a.phase for a in attempts] == [Phase.FAILED, Phase.SUCCEEDED]


def test_a_failed_trace_runs_again_on_retry(store: Any) -> None:
    env = flyte.TaskEnvironment("replay_failed")
    ran: Counter[str] = Counter()

    @flyte.trace
    def ok(x: int) -> int:
        ran["ok"] += 1
        return x

    @flyte.trace
    def flaky(x: int) -> int:
        ran["flaky"] += 1
        if ran["flaky"] == 1:
            raise ConnectionResetError("service hung up")
        return x * 2

    @env.task(retries=2)
    def main(x: int) -> int:
        return flaky(ok(x))

    run = flyte.run(main, 4)
    assert run.outputs()[0] == 8
    assert ran == Counter(ok=1, flaky=2)
    steps = {t.name.rsplit(".", 1)[-1]: t for t in traces(run)}
    assert steps["flaky"].phase is Phase.SUCCEEDED and not steps["flaky"].recovered


def test_replay_needs_the_same_inputs(store: Any) -> None:
    env = flyte.TaskEnvironment("replay_inputs")
    ran: list[int] = []

    @flyte.trace
    def probe(attempt: int) -> int:
        ran.append(attempt)
        return attempt

    @env.task(retries=1)
    def main() -> int:
        ctx = flyte.ctx()
        assert ctx is not None
        value = probe(ctx.attempt)  # a different input on each attempt: no replay
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return value

    assert flyte.run(main).outputs()[0] == 2
    assert ran == [1, 2]


def test_generator_traces_replay_their_items(store: Any) -> None:
    env = flyte.TaskEnvironment("replay_gen")
    ran: Counter[str] = Counter()

    @flyte.trace
    def pages(n: int) -> Iterator[str]:
        ran["pages"] += 1
        for i in range(n):
            yield f"p{i}"

    @env.task(retries=1)
    def main(n: int) -> list[str]:
        items = list(pages(n))
        ran["attempts"] += 1
        if ran["attempts"] == 1:
            raise RuntimeError("fail after the generator finished")
        return items

    assert flyte.run(main, 3).outputs()[0] == ["p0", "p1", "p2"]
    assert ran == Counter(pages=1, attempts=2)
    [t] = traces(flyte.Run(store.list_runs(limit=1)[0].name, store))
    assert t.recovered


def test_repeated_calls_with_the_same_inputs_replay_one_by_one(store: Any) -> None:
    env = flyte.TaskEnvironment("replay_repeat")
    ran: list[int] = []
    attempts: list[int] = []

    @flyte.trace
    def roll(sides: int) -> tuple[int, str]:
        ran.append(sides)
        return len(ran), f"d{sides}"

    @env.task(retries=1)
    def main() -> list[tuple[int, str]]:
        attempts.append(1)
        first, second = roll(6), roll(6)
        if len(attempts) == 1:
            raise RuntimeError("fail between the second and the third call")
        return [first, second, roll(6)]

    run = flyte.run(main)
    # The first two calls replay their own recorded values (exact tuples), the third runs.
    assert run.outputs()[0] == [(1, "d6"), (2, "d6"), (3, "d6")]
    assert all(type(v) is tuple for v in run.outputs()[0])
    assert ran == [6, 6, 6]
    recorded = sorted(traces(run), key=lambda t: t.seq)
    assert [t.seq for t in recorded] == [0, 1, 2]
    assert [t.recovered for t in recorded] == [True, True, False]


def test_a_timeout_error_raised_by_a_trace_is_an_ordinary_error(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_timeout_error")
    ran: Counter[str] = Counter()

    @flyte.trace
    def call_service(x: int) -> int:
        ran["call"] += 1
        if ran["call"] == 1:
            raise TimeoutError("the HTTP request timed out")  # e.g. from a network client
        return x

    @env.task(retries=1)
    def main(x: int) -> int:
        return call_service(x)

    assert flyte.run(main, 3).outputs()[0] == 3
    assert ran["call"] == 2


def test_a_trace_on_a_method_of_a_locally_defined_class(store: Any) -> None:
    env = flyte.TaskEnvironment("trace_method")

    class Agent:
        def __init__(self, greeting: str) -> None:
            self.greeting = greeting

        @flyte.trace
        def ask(self, question: str) -> str:
            return f"{self.greeting} {question}"

    @env.task
    def main(question: str) -> str:
        return Agent("hi").ask(question)

    run = flyte.run(main, "there")
    assert run.outputs()[0] == "hi there"
    [t] = traces(run)
    assert json.loads(t.outputs_json) == "hi there"


def test_async_generator_traces_replay_their_items(store: Any) -> None:
    env = flyte.TaskEnvironment("replay_agen")
    ran: Counter[str] = Counter()

    @flyte.trace
    async def pages(n: int) -> AsyncIterator[str]:
        ran["pages"] += 1
        for i in range(n):
            yield f"p{i}"

    @env.task(retries=1)
    async def main(n: int) -> list[str]:
        items = [p async for p in pages(n)]
        ran["attempts"] += 1
        if ran["attempts"] == 1:
            raise RuntimeError("fail after the generator finished")
        return items

    assert flyte.run(main, 2).outputs()[0] == ["p0", "p1"]
    assert ran == Counter(pages=1, attempts=2)
    [t] = traces(flyte.Run(store.list_runs(limit=1)[0].name, store))
    assert t.recovered


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_generator_trace_that_raises_midway_is_recorded_failed(
    store: Any, is_async: bool
) -> None:
    env = flyte.TaskEnvironment(f"gen_err_{'async' if is_async else 'sync'}")

    @flyte.trace
    def pages(n: int) -> Iterator[str]:
        yield "p0"
        raise KeyError(f"page {n} is missing")

    @flyte.trace
    async def apages(n: int) -> AsyncIterator[str]:
        yield "p0"
        raise KeyError(f"page {n} is missing")

    @env.task
    def sync_main(n: int) -> str:
        seen = []
        try:
            for p in pages(n):
                seen.append(p)
        except KeyError as exc:
            return f"{seen} then {exc.args[0]}"
        return "no error"

    @env.task
    async def async_main(n: int) -> str:
        seen = []
        try:
            async for p in apages(n):
                seen.append(p)
        except KeyError as exc:
            return f"{seen} then {exc.args[0]}"
        return "no error"

    run = flyte.run(async_main if is_async else sync_main, 1)
    assert run.outputs()[0] == "['p0'] then page 1 is missing"
    [t] = traces(run)
    assert t.phase is Phase.FAILED and t.error_type == "KeyError"
