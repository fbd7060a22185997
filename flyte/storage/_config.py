"""Cloud storage configs, as upstream spells them; recorded locally, never dialled."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any

from flyte.errors import InvalidOptionError

__all__ = ["ABFS", "GCS", "S3", "Storage"]


@dataclass(init=True, repr=True, eq=True, frozen=True)
class Storage:
    """Settings shared by every storage backend."""

    retries: int = 3
    backoff: datetime.timedelta = field(default=datetime.timedelta(seconds=5))
    enable_debug: bool = False
    attach_execution_metadata: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise InvalidOptionError(f"retries must be a non-negative int, got {self.retries!r}")

    @classmethod
    def auto(cls) -> Storage:
        return cls()

    def get_fsspec_kwargs(self, anonymous: bool = False, **kwargs: Any) -> dict[str, Any]:
        return dict(kwargs)


@dataclass(init=True, repr=True, eq=True, frozen=True)
class S3(Storage):
    """S3 (or S3-compatible) storage; `S3.auto(region=...)` reads the AWS env vars."""

    endpoint: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str | None = None
    addressing_style: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.addressing_style not in (None, "auto", "virtual", "path"):
            raise InvalidOptionError(
                f"addressing_style must be 'auto', 'virtual' or 'path', got {self.addressing_style!r}"
            )

    @classmethod
    def auto(cls, region: str | None = None) -> S3:  # type: ignore[override]
        return cls(
            endpoint=os.environ.get("FLYTE_AWS_ENDPOINT"),
            access_key_id=os.environ.get("FLYTE_AWS_ACCESS_KEY_ID"),
            secret_access_key=os.environ.get("FLYTE_AWS_SECRET_ACCESS_KEY"),
            region=region or os.environ.get("AWS_REGION"),
        )

    @classmethod
    def for_sandbox(cls) -> S3:
        return cls(
            endpoint="http://localhost:4566",
            access_key_id="minio",
            secret_access_key="miniostorage",
        )

    def __repr__(self) -> str:  # never print a secret key
        return f"S3(endpoint={self.endpoint!r}, region={self.region!r})"


@dataclass(init=True, repr=True, eq=True, frozen=True)
class GCS(Storage):
    """Google Cloud Storage."""

    gsutil_parallelism: bool = False

    @classmethod
    def auto(cls) -> GCS:
        return cls()


@dataclass(init=True, repr=True, eq=True, frozen=True)
class ABFS(Storage):
    """Azure Blob / Data Lake storage."""

    account_name: str | None = None
    account_key: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @classmethod
    def auto(cls) -> ABFS:
        return cls(account_name=os.environ.get("AZURE_STORAGE_ACCOUNT_NAME"))

    def __repr__(self) -> str:
        return f"ABFS(account_name={self.account_name!r})"
