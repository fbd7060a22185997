"""HttpRunStore: the run store protocol served over HTTP by `flyte serve`.

The CLI, the TUI and `flyte.remote` read runs through the `RunStore` protocol; with an
endpoint configured they get this store instead of a SQLite file, and work unchanged.
Runs are driven by the server, so the only write a client makes is registering deployed
tasks (`flyte.deploy`); the engine's own writes never travel over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from flyte._models import (
    ActionRecord,
    AttemptRecord,
    CacheEntry,
    DeployedTask,
    LogLine,
    ReportRecord,
    RunRecord,
)
from flyte._store import Op
from flyte.errors import RemoteError, RunNotFoundError, TaskNotFoundError
from flyte.remote._wire import b64decode, b64encode, decode, decode_list

if TYPE_CHECKING:
    from flyte._cache_api import Explanation
    from flyte.remote._client import RemoteClient

__all__ = ["HttpRunStore"]

_PAGE = 500
"""Runs per request when listing."""

_FOLLOW_WAIT = 20.0
"""How long one long-poll for new log lines may wait on the server (seconds)."""


def _local(blob: bytes | None) -> bytes | None:
    """A value the server sent, sealed with this home's key: the server sealed it with its
    own, and the authenticated connection is what makes it trusted (`_serde.unsealed`)."""
    if not blob:
        return blob
    from flyte._serde import adopt

    return adopt(blob)


def _quote(part: str) -> str:
    from urllib.parse import quote

    return quote(part, safe="")


class HttpRunStore:
    """A read view of the server's run store (plus deploy), through a `RemoteClient`.

    Example:
        store = HttpRunStore(RemoteClient("http://127.0.0.1:8090", api_key=token))
        for run in store.list_runs(limit=5):
            print(run.name, run.phase)
    """

    remote = True
    """Marks a server's store: `flyte._run._remote` and the CLI look for it."""

    def __init__(self, client: RemoteClient) -> None:
        self.client = client
        self.path = client.endpoint

    # -- writes ----------------------------------------------------------------------

    def write(self, ops: Sequence[Op]) -> None:
        """Register deployed tasks (`("deploy", row)` ops) on the server.

        Raises:
            RemoteError: any other operation; the server drives runs itself.
        """
        rows = []
        for op in ops:
            if op[0] != "deploy":
                raise RemoteError(
                    f"a client cannot write {op[0]!r} to the server's store; "
                    "the server drives runs (start them with flyte.run)"
                )
            row = dict(op[1])
            row["snapshot"] = b64encode(row["snapshot"])
            rows.append(row)
        if rows:
            self.client.json("POST", "/tasks", json={"tasks": rows})

    # -- runs ------------------------------------------------------------------------

    def get_run(self, name: str) -> RunRecord | None:
        try:
            data = self.client.json("GET", f"/runs/{_quote(name)}")
        except RunNotFoundError:
            return None
        return decode(RunRecord, data["run"])

    def wait_run(self, name: str, timeout: float) -> RunRecord | None:
        """The run once it has ended, or as it is after `timeout` seconds (server long-poll)."""
        try:
            data = self.client.json(
                "GET",
                f"/runs/{_quote(name)}",
                params={"wait": timeout},
                timeout=timeout + 30,
            )
        except RunNotFoundError:
            return None
        return decode(RunRecord, data["run"])

    def list_runs(
        self,
        *,
        phase: str | None = None,
        task: str | None = None,
        limit: int | None = 50,
        since: float | None = None,
        search: str | None = None,
    ) -> list[RunRecord]:
        # Page by page (at most _PAGE runs per request), however many are asked for.
        found: list[RunRecord] = []
        offset: int | None = 0
        while offset is not None and (limit is None or len(found) < limit):
            page = _PAGE if limit is None else min(_PAGE, limit - len(found))
            params = {
                "phase": phase,
                "task": task,
                "limit": page,
                "offset": offset,
                "since": since,
                "search": search,
            }
            data = self.client.json("GET", "/runs", params=params)
            found.extend(decode_list(RunRecord, data["runs"]))
            offset = data.get("next")
        return found

    def count_runs(
        self,
        *,
        phase: str | None = None,
        task: str | None = None,
        since: float | None = None,
        search: str | None = None,
    ) -> int:
        """How many runs match (one request; `flyte.store.count_runs` uses it)."""
        params = {"count": "true", "phase": phase, "task": task, "since": since, "search": search}
        return int(self.client.json("GET", "/runs", params=params)["count"])

    def list_actions(self, run: str) -> list[ActionRecord]:
        data = self.client.json("GET", f"/runs/{_quote(run)}/actions")
        return decode_list(ActionRecord, data["actions"])

    def iter_actions(self, run: str, *, page: int = 2000) -> Iterator[list[ActionRecord]]:
        """A run's actions, a page at a time (the server sends them in one response)."""
        found = self.list_actions(run)
        for start in range(0, len(found), page):
            yield found[start : start + page]

    def iter_logs(
        self,
        run: str,
        *,
        action_id: str | None = None,
        after: int = 0,
        attempt: int | None = None,
        page: int = 2000,
    ) -> Iterator[list[LogLine]]:
        """The lines `logs` returns, oldest first, one request per page."""
        while True:
            lines = self.logs(run, action_id=action_id, after=after, attempt=attempt)
            if not lines:
                return
            for start in range(0, len(lines), page):
                yield lines[start : start + page]
            after = lines[-1].seq
            if len(lines) < page:
                return

    def claim_recovery(self, source: str, run: str) -> None:
        """Runs are driven by the server: the server's store takes the recovery lease."""

    def get_action(self, run: str, action_id: str) -> ActionRecord | None:
        try:
            data = self.client.json("GET", f"/runs/{_quote(run)}/actions/{_quote(action_id)}")
        except RunNotFoundError:
            return None
        return decode(ActionRecord, data["action"])

    def list_attempts(self, run: str, action_id: str | None = None) -> list[AttemptRecord]:
        data = self.client.json(
            "GET", f"/runs/{_quote(run)}/attempts", params={"action": action_id}
        )
        return decode_list(AttemptRecord, data["attempts"])

    def get_blob(self, run: str, action_id: str | None, which: str) -> bytes | None:
        """The exact (pickled) inputs or outputs of a run or an action (raw bytes)."""
        try:
            response = self.client.request(
                "GET", f"/runs/{_quote(run)}/blobs/{_quote(which)}", params={"action": action_id}
            )
        except RunNotFoundError:
            return None
        return _local(response.content) if response.status_code == 200 else None

    def run_task_blob(self, run: str) -> bytes | None:
        """The snapshot of a run's task (what the client shipped), to rerun it."""
        try:
            response = self.client.request("GET", f"/runs/{_quote(run)}/task")
        except RunNotFoundError:
            return None
        return _local(response.content) if response.status_code == 200 else None

    def successful_actions(self, run: str) -> dict[str, tuple[str | None, bytes | None, str]]:
        data = self.client.json("GET", f"/runs/{_quote(run)}/successful")
        return {
            key: (value[0], _local(b64decode(value[1])), value[2])
            for key, value in data["actions"].items()
        }

    def get_report(self, run: str, action_id: str) -> ReportRecord | None:
        try:
            data = self.client.json("GET", f"/runs/{_quote(run)}/reports/{_quote(action_id)}")
        except RunNotFoundError:
            return None
        return ReportRecord(**data["report"])

    def report_actions(self, run: str) -> list[str]:
        try:
            data = self.client.json("GET", f"/runs/{_quote(run)}/reports")
        except RunNotFoundError:
            return []
        return list(data["actions"])

    def request_abort(self, run: str) -> bool:
        try:
            data = self.client.json("POST", f"/runs/{_quote(run)}/abort")
        except RunNotFoundError:  # as a local store: nothing to abort
            return False
        return bool(data["aborted"])

    def abort_requested(self, run: str) -> bool:
        try:
            data = self.client.json("GET", f"/runs/{_quote(run)}/abort")
        except RunNotFoundError:
            return False
        return bool(data["requested"])

    def delete_run(self, run: str) -> bool:
        try:
            data = self.client.json("DELETE", f"/runs/{_quote(run)}")
        except RunNotFoundError:
            return False
        return bool(data["deleted"])

    # -- logs ------------------------------------------------------------------------

    def logs(
        self,
        run: str,
        *,
        action_id: str | None = None,
        after: int = 0,
        attempt: int | None = None,
        limit: int | None = None,
    ) -> list[LogLine]:
        params = {"action": action_id, "after": after, "attempt": attempt, "limit": limit}
        data = self.client.json("GET", f"/runs/{_quote(run)}/logs", params=params)
        return decode_list(LogLine, data["lines"])

    def follow_logs(
        self,
        run: str,
        *,
        action_id: str | None = None,
        after: int = 0,
        attempt: int | None = None,
    ) -> Iterator[list[LogLine]]:
        """Batches of new log lines until the run ends (server-side long-poll on `after`).

        Every line comes once and in order: each request asks for the lines after the
        last one received, and the server answers as soon as there is one.
        """
        while True:
            params = {"action": action_id, "after": after, "attempt": attempt, "wait": _FOLLOW_WAIT}
            data = self.client.json(
                "GET", f"/runs/{_quote(run)}/logs", params=params, timeout=_FOLLOW_WAIT + 30
            )
            lines = decode_list(LogLine, data["lines"])
            if lines:
                after = lines[-1].seq
                yield lines
            if data.get("done"):
                return
            if not lines:
                time.sleep(0.05)  # an answer with nothing new (server restart): do not spin

    # -- cache -----------------------------------------------------------------------

    def cache_get(self, key: str) -> tuple[CacheEntry, bytes] | None:
        try:
            data = self.client.json("GET", f"/cache/{_quote(key)}")
        except RunNotFoundError:
            return None
        blob = b64decode(data.get("outputs_blob"))
        return decode(CacheEntry, data["entry"]), _local(blob) or b""

    def cache_lookup(self, key: str) -> tuple[str | None, bytes] | None:
        found = self.cache_get(key)
        return None if found is None else (found[0].outputs_json, found[1])

    def cache_outputs(
        self, task: str, *, max_entries: int = 5000, max_bytes: int = 64 << 20
    ) -> dict[str, tuple[str | None, bytes]] | None:
        """None: over HTTP, one look-up per key costs less than shipping every entry."""
        return None

    def cache_entries(self, task: str | None = None) -> list[CacheEntry]:
        data = self.client.json("GET", "/cache", params={"task": task})
        return decode_list(CacheEntry, data["entries"])

    def cache_clear(self, task: str | None = None) -> int:
        data = self.client.json("DELETE", "/cache", params={"task": task})
        return int(data["cleared"])

    def explain(self, run: str, action_id: str) -> Explanation:
        """Why an action hit or missed the cache, explained by the server."""
        from flyte._cache_api import Explanation

        data = self.client.json("GET", f"/runs/{_quote(run)}/actions/{_quote(action_id)}/explain")
        return Explanation(**data["explanation"])

    # -- deployed tasks --------------------------------------------------------------

    def get_deployed(
        self, name: str, version: str | None = None
    ) -> tuple[DeployedTask, bytes] | None:
        try:
            data = self.client.json("GET", f"/tasks/{_quote(name)}", params={"version": version})
        except TaskNotFoundError:
            return None
        return decode(DeployedTask, data["task"]), _local(b64decode(data["snapshot"])) or b""

    def list_deployed(self) -> list[DeployedTask]:
        data = self.client.json("GET", "/tasks")
        return decode_list(DeployedTask, data["tasks"])

    # -- change detection ------------------------------------------------------------

    def change_counter(self) -> int:
        return int(self.client.json("GET", "/version")["counter"])

    def close(self) -> None:
        """Nothing to close: the connection pool is shared per server (see `client_for`)."""

    def __repr__(self) -> str:
        return f"HttpRunStore({self.path!r})"
