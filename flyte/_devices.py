"""Accelerators: upstream's `Device` and its helpers (`GPU`, `TPU`, ...) and `"A100:8"` strings.

A task asks for accelerators with `Resources(gpu=...)`: a count, a `"TYPE:COUNT"` string
or a `Device`. Locally nothing schedules GPUs, so the request is validated exactly as
upstream validates it and recorded on every action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flyte.errors import InvalidOptionError

__all__ = [
    "AMD_GPU",
    "GPU",
    "HABANA_GAUDI",
    "TPU",
    "Device",
    "DeviceClass",
    "Neuron",
    "parse_accelerator",
]

DeviceClass = Literal["GPU", "TPU", "NEURON", "AMD_GPU", "HABANA_GAUDI"]

_GPU_TYPES = (
    "A10",
    "A10G",
    "A100",
    "A100 80G",
    "B200",
    "H100",
    "H200",
    "L4",
    "L40s",
    "T4",
    "V100",
    "RTX PRO 6000",
    "GB10",
)
_TPU_TYPES = ("V5P", "V6E")
_NEURON_TYPES = ("Inf1", "Inf2", "Trn1", "Trn1n", "Trn2", "Trn2u")
_AMD_TYPES = ("MI100", "MI210", "MI250", "MI250X", "MI300A", "MI300X", "MI325X", "MI350X", "MI355X")
_GAUDI_TYPES = ("Gaudi1",)
_CLASSES: dict[str, tuple[str, ...]] = {
    "GPU": _GPU_TYPES,
    "TPU": _TPU_TYPES,
    "NEURON": _NEURON_TYPES,
    "AMD_GPU": _AMD_TYPES,
    "HABANA_GAUDI": _GAUDI_TYPES,
}
_PARTITIONS = {
    "A100": ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
    "A100 80G": ("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H100": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H200": ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
    "V5P": (
        "2x2x1",
        "2x2x2",
        "2x4x4",
        "4x4x4",
        "4x4x8",
        "4x8x8",
        "8x8x8",
        "8x8x16",
        "8x16x16",
        "16x16x16",
        "16x16x24",
    ),
    "V6E": ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"),
}
# Upstream's `Accelerators` literal: counts 1-8 for GPUs, more for Inferentia/Trainium.
_MAX_COUNT = {"GPU": 8, "NEURON": 16, "AMD_GPU": 8, "HABANA_GAUDI": 8, "TPU": 8}


@dataclass(frozen=True)
class Device:
    """An accelerator request: class, type, count and partition.

    Example:
        flyte.Resources(gpu=flyte.GPU("A100", 2, partition="1g.5gb"))
    """

    quantity: int
    device_class: DeviceClass
    device: str | None = None
    partition: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise InvalidOptionError(f"device quantity must be an int, got {self.quantity!r}")
        if self.quantity < 1:
            raise InvalidOptionError("GPU quantity must be at least 1")
        if self.device_class not in _CLASSES:
            raise InvalidOptionError(
                f"device_class must be one of {', '.join(_CLASSES)}, got {self.device_class!r}"
            )

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def __str__(self) -> str:
        kind = self.device or self.device_class
        part = f" ({self.partition})" if self.partition else ""
        return f"{kind}:{self.quantity}{part}"


def _check(device: str, kinds: tuple[str, ...], what: str) -> None:
    if device not in kinds:
        raise InvalidOptionError(
            f"invalid {what} type {device!r}; choose one of: {', '.join(kinds)}"
        )


def _check_partition(device: str, partition: str | None) -> None:
    if partition is None:
        return
    valid = _PARTITIONS.get(device)
    if valid is None:
        raise InvalidOptionError(f"{device} cannot be partitioned (got partition {partition!r})")
    if partition not in valid:
        raise InvalidOptionError(
            f"invalid partition for {device}: {partition!r}; choose one of: {', '.join(valid)}"
        )


def GPU(device: str, quantity: int, partition: str | None = None) -> Device:
    """NVIDIA GPUs: `flyte.GPU("A100", 2)`, optionally a MIG partition."""
    _check(device, _GPU_TYPES, "GPU")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 8:
        raise InvalidOptionError(f"GPU quantity must be 1 to 8, got {quantity!r}")
    _check_partition(device, partition)
    return Device(quantity=quantity, device_class="GPU", device=device, partition=partition)


def TPU(device: str, partition: str | None = None) -> Device:
    """A Google TPU slice: `flyte.TPU("V5P", "2x2x1")`."""
    _check(device, _TPU_TYPES, "TPU")
    _check_partition(device, partition)
    return Device(quantity=1, device_class="TPU", device=device, partition=partition)


def Neuron(device: str) -> Device:
    """An AWS Inferentia / Trainium device: `flyte.Neuron("Inf2")`."""
    _check(device, _NEURON_TYPES, "Neuron")
    return Device(quantity=1, device_class="NEURON", device=device)


def AMD_GPU(device: str) -> Device:
    """An AMD GPU: `flyte.AMD_GPU("MI300X")`."""
    _check(device, _AMD_TYPES, "AMD GPU")
    return Device(quantity=1, device_class="AMD_GPU", device=device)


def HABANA_GAUDI(device: str) -> Device:
    """An Intel Habana Gaudi device: `flyte.HABANA_GAUDI("Gaudi1")`."""
    _check(device, _GAUDI_TYPES, "Habana Gaudi")
    return Device(quantity=1, device_class="HABANA_GAUDI", device=device)


def parse_accelerator(value: int | str | Device) -> Device:
    """A `Resources(gpu=...)` value as a Device: a count, `"TYPE:COUNT"` or a Device.

    Raises:
        InvalidOptionError: an unknown type or a count out of range; the message lists types.
    """
    if isinstance(value, Device):
        return value
    if isinstance(value, bool):
        raise InvalidOptionError(f"gpu must be a count or 'TYPE:COUNT', got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise InvalidOptionError(f"gpu must be greater than or equal to 1, got {value}")
        return Device(quantity=value, device_class="GPU")
    if not isinstance(value, str):
        raise InvalidOptionError(
            "gpu must be an accelerator string such as 'A100:4', a device count, or a "
            f"flyte.GPU()/TPU()/Device() instance, got {value!r}"
        )
    kind, sep, count = value.rpartition(":")
    if not sep:
        kind, count = value, "1"
    device_class = next((c for c, kinds in _CLASSES.items() if kind in kinds), None)
    if device_class is None:
        known = ", ".join(t for kinds in _CLASSES.values() for t in kinds)
        raise InvalidOptionError(
            f"gpu {value!r} is not a known accelerator; use 'TYPE:COUNT' with TYPE one of: {known}"
        )
    limit = _MAX_COUNT[device_class]
    if not count.isdigit() or not 1 <= int(count) <= limit:
        raise InvalidOptionError(f"gpu {value!r}: the count after ':' must be 1 to {limit}")
    return Device(quantity=int(count), device_class=device_class, device=kind)  # type: ignore[arg-type]
