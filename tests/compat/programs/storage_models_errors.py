# flyte-local compat: flyte.storage configs and helpers, flyte.models, upstream error forms
import tempfile

import flyte
import flyte.errors
import flyte.storage
from flyte.models import ActionPhase

env = flyte.TaskEnvironment(name="storage_compat")


@env.task
async def roundtrip(text: str) -> str:
    path = await flyte.storage.put_stream(text.encode(), name="note.txt")
    assert await flyte.storage.exists(path) and flyte.storage.exists_sync(path)
    chunks = [c async for c in flyte.storage.get_stream(path)]
    copied = await flyte.storage.get(path, flyte.storage.join(tempfile.mkdtemp(), "copy.txt"))
    assert not flyte.storage.is_remote(copied) and flyte.storage.is_remote("s3://bucket/x")
    return b"".join(chunks).decode()


@env.task
async def fails() -> None:
    raise flyte.errors.RuntimeUserError("ValueError", "bad value")


@env.task
async def main() -> str:
    text = await roundtrip("stored")
    try:
        await fails()
    except flyte.errors.RuntimeUserError as e:
        return f"{text} {e.code}"
    return text


if __name__ == "__main__":
    flyte.init_from_config(storage=flyte.storage.S3.auto(region="us-east-2"))
    r = flyte.run(main)
    assert r.phase == ActionPhase.SUCCEEDED and ActionPhase.SUCCEEDED.is_terminal
    print(r.outputs())
