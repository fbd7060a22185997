"""`flyte.cache`: list, explain and clear cache entries in the run store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._models import CacheEntry
    from flyte._store import RunStore
    from flyte._task import TaskTemplate

__all__ = ["CacheAPI", "Explanation", "cache_api"]


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """Why a cache look-up hit or missed: the differing key parts, one line each."""

    task: str
    key: str | None
    hit: bool
    compared_with: str | None
    reasons: list[str]

    def __str__(self) -> str:
        if self.hit:
            return f"{self.task}: cache hit ({self.key})"
        if self.reasons:
            return f"{self.task}: " + "; ".join(self.reasons)
        if self.compared_with is None:
            return f"{self.task}: no earlier cache entry for this task"
        return f"{self.task}: " + ("; ".join(self.reasons) or "same key parts")


class CacheAPI:
    """List, explain and clear cache entries.

    Example:
        for entry in flyte.cache.entries("pipeline.clean"):
            print(entry.key, entry.created_at)
        print(flyte.cache.explain(run.name, action_id))
        flyte.cache.clear("pipeline.clean")
    """

    def _store(self, store: RunStore | None) -> RunStore:
        from flyte._run import current_store

        return store if store is not None else current_store()

    def entries(
        self, task: str | None = None, *, store: RunStore | None = None
    ) -> list[CacheEntry]:
        """Cache entries, newest first; `task` matches a full or short task name."""
        return self._store(store).cache_entries(task)

    def clear(self, task: str | None = None, *, store: RunStore | None = None) -> int:
        """Delete entries (all, or one task's); returns how many."""
        st = self._store(store)
        writer = getattr(st, "_flyte_writer", None)
        if writer is not None:
            writer.flush()
            writer.recent_cache.clear()
        return st.cache_clear(task)

    def explain(self, run: str, action_id: str, *, store: RunStore | None = None) -> Explanation:
        """Why action `action_id` of `run` hit or missed the cache.

        Raises:
            flyte.errors.RunNotFoundError: no such run or action.
        """
        from flyte._hashing import explain_difference
        from flyte._models import CacheStatus
        from flyte.errors import RunNotFoundError

        st = self._store(store)
        remote = getattr(st, "explain", None)
        if remote is not None:  # a server's store: it explains with its own entries
            return remote(run, action_id)  # type: ignore[no-any-return]
        action = st.get_action(run, action_id)
        if action is None:
            raise RunNotFoundError(
                f"no action {action_id!r} in run {run!r}; `flyte get actions {run}`"
            )
        if action.cache_status is CacheStatus.DISABLED or action.cache_key is None:
            return Explanation(
                task=action.name,
                key=None,
                hit=False,
                compared_with=None,
                reasons=["caching is disabled for this action"],
            )
        if action.cache_status is CacheStatus.HIT:
            return Explanation(
                task=action.name, key=action.cache_key, hit=True, compared_with=None, reasons=[]
            )
        own = st.cache_get(action.cache_key)
        entries = [e for e in st.cache_entries(action.name) if e.key != action.cache_key]
        if action.started_at is not None:  # only entries that existed when it looked up
            entries = [e for e in entries if e.created_at <= action.started_at]
        if own is None or not entries:
            return Explanation(
                task=action.name, key=action.cache_key, hit=False, compared_with=None, reasons=[]
            )
        newest = entries[0]
        return Explanation(
            task=action.name,
            key=action.cache_key,
            hit=False,
            compared_with=newest.key,
            reasons=explain_difference(newest.parts, own[0].parts),
        )

    def explain_call(
        self, task: TaskTemplate[Any, Any], *args: Any, store: RunStore | None = None, **kwargs: Any
    ) -> Explanation:
        """Would calling `task(*args, **kwargs)` hit the cache now, and if not, why."""
        from flyte._cachekey import compute_key
        from flyte._hashing import explain_difference

        st = self._store(store)
        parts = compute_key(
            task_name=task.name,
            interface=task.interface_digest,
            func=task.func,
            cache=task.cache,
            inputs=task.bind(args, kwargs),
        )
        if st.cache_get(parts.key) is not None:
            return Explanation(
                task=task.name, key=parts.key, hit=True, compared_with=None, reasons=[]
            )
        entries = st.cache_entries(task.name)
        if not entries:
            return Explanation(
                task=task.name, key=parts.key, hit=False, compared_with=None, reasons=[]
            )
        return Explanation(
            task=task.name,
            key=parts.key,
            hit=False,
            compared_with=entries[0].key,
            reasons=explain_difference(entries[0].parts, parts.parts),
        )


cache_api = CacheAPI()
