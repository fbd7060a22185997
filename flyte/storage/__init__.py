"""`flyte.storage`: storage configs (recorded) and file helpers over local paths.

Locally data lives on this machine, so `S3`, `GCS` and `ABFS` configs given to
`flyte.init(storage=...)` are validated and recorded but not used; the helpers
(`exists`, `get`, `put`, `put_stream`, `get_stream`, ...) work on local paths and
`file://` URLs, and name the missing piece for a cloud URL.
"""

from flyte.storage._config import ABFS, GCS, S3, Storage
from flyte.storage._local import (
    exists,
    exists_sync,
    get,
    get_random_local_directory,
    get_random_local_path,
    get_stream,
    get_underlying_filesystem,
    is_remote,
    join,
    open,
    put,
    put_stream,
)

__all__ = [
    "ABFS",
    "GCS",
    "S3",
    "Storage",
    "exists",
    "exists_sync",
    "get",
    "get_random_local_directory",
    "get_random_local_path",
    "get_stream",
    "get_underlying_filesystem",
    "is_remote",
    "join",
    "open",
    "put",
    "put_stream",
]
