# flyte-local compat: flyte.run coerces dicts (and partial dicts) into dataclass / pydantic inputs
from dataclasses import dataclass, field

from pydantic import BaseModel

import flyte

env = flyte.TaskEnvironment(name="dict_compat")


@dataclass
class Query:
    sql: str
    limit: int = 10
    tags: list[str] = field(default_factory=list)


class Batch(BaseModel):
    name: str
    size: int = 5


@dataclass
class Job:
    query: Query
    retries: int = 1


@env.task
def describe(q: Query, b: Batch, job: Job) -> str:
    assert isinstance(q, Query) and isinstance(b, Batch) and isinstance(job.query, Query)
    return f"{q.sql}/{q.limit}/{q.tags} {b.name}/{b.size} {job.query.sql}/{job.retries}"


if __name__ == "__main__":
    flyte.init_from_config()
    r = flyte.run(describe, q={"sql": "select 1"}, b={"name": "nightly"}, job={"query": {"sql": "q2"}})
    print(r.outputs())
