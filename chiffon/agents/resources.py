"""What a machine has right now: CPU, load, memory (psutil) and GPUs (NVIDIA's NVML).

A ``Sampler`` gives a ``ResourceSample``. ``SystemSampler`` measures this machine; NVML is
reached through ``pynvml`` (the nvidia-ml-py package), imported and initialised on the first
sample and the outcome kept for the life of the process: a machine with no NVIDIA driver, or
no GPU, gets empty ``gpus`` and a ``gpu_note`` saying why — never an exception.
``FileSampler`` overlays the fields of a JSON file on another sampler's sample, re-read at
every sample, so a test (or a machine whose GPU NVML cannot see) can state its figures.

Cost (``python -m chiffon.agents.resources``): a sample is a handful of /proc reads, about
65 µs on the 2-core test machine with no GPU: cheap enough to take on the event loop at every
heartbeat and capacity question.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import psutil
from pydantic import ValidationError

from chiffon.agents.errors import ResourceFileInvalid
from chiffon.protocol import GpuSample, ResourceSample
from chiffon.protocol.agents import utc_now

_MB = 1024 * 1024


class Sampler(Protocol):
    """Something that measures a machine's resources."""

    def sample(self) -> ResourceSample:
        """The resources now. Raises what the implementation documents."""
        ...


class SystemSampler:
    """This machine, through psutil and (when there is one) NVIDIA's driver. Never raises for
    a missing GPU or driver. ``gpus=False`` skips NVML altogether."""

    def __init__(self, *, gpus: bool = True) -> None:
        self.gpus = gpus
        # cpu_percent(None) compares with the previous call: the first one only sets the mark.
        psutil.cpu_percent(interval=None)

    def sample(self) -> ResourceSample:
        memory = psutil.virtual_memory()
        gpus, note = gpu_samples() if self.gpus else ((), "GPU sampling is off")
        return ResourceSample(
            cpu_count=psutil.cpu_count() or 1,
            cpu_percent=min(psutil.cpu_percent(interval=None), 100.0),
            load_1m=round(os.getloadavg()[0], 2),
            memory_total_mb=memory.total // _MB,
            memory_available_mb=memory.available // _MB,
            gpus=gpus,
            gpu_note=note,
            sampled_at=utc_now(),
        )


class FileSampler:
    """``base``'s sample with the fields of the JSON object in ``path`` laid over it, e.g.
    ``{"gpus": [{"index": 0, "name": "RTX 4090", "utilisation_percent": 0,
    "vram_total_mb": 24564, "vram_free_mb": 20000}]}``. The file is read at every sample, so
    its figures can change while the agent runs; a missing file means no override.

    ``sample`` raises ``ResourceFileInvalid`` naming the file and the field when the file is
    not such an object.
    """

    def __init__(self, path: Path, base: Sampler | None = None) -> None:
        self.path = path
        self.base = base if base is not None else SystemSampler()

    def sample(self) -> ResourceSample:
        measured = self.base.sample()
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return measured
        except OSError as exc:
            raise ResourceFileInvalid(self.path, str(exc)) from None
        try:
            overrides = json.loads(text)
        except ValueError as exc:
            raise ResourceFileInvalid(self.path, f"not JSON ({exc})") from None
        if not isinstance(overrides, dict):
            raise ResourceFileInvalid(self.path, "it must hold a JSON object")
        if "gpus" in overrides and "gpu_note" not in overrides:
            overrides["gpu_note"] = None  # the file states the GPUs: no note about their absence
        fields = {**measured.model_dump(), **overrides, "sampled_at": measured.sampled_at}
        try:
            return ResourceSample.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "object"
            raise ResourceFileInvalid(self.path, f"{where}: {first['msg']}") from None


# -- NVML ---------------------------------------------------------------------------------

_nvml_lock = threading.Lock()
_nvml: Any = None
"""The initialised ``pynvml`` module, or the note saying why there is none (a ``str``)."""


def _nvml_module() -> Any:
    """``pynvml``, initialised once per process; a ``str`` (the reason) when unusable."""
    global _nvml
    with _nvml_lock:
        if _nvml is None:
            try:
                import pynvml  # type: ignore[import-untyped]  # nvidia-ml-py, no stubs

                pynvml.nvmlInit()
            except ImportError:
                _nvml = "no NVML: the nvidia-ml-py package is not installed"
            except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, …
                _nvml = f"no NVIDIA driver ({_nvml_reason(exc)})"
            else:
                _nvml = pynvml
        return _nvml


def _nvml_reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def gpu_samples() -> tuple[tuple[GpuSample, ...], str | None]:
    """Every NVIDIA GPU's utilisation and VRAM, or no GPUs and the reason."""
    nvml = _nvml_module()
    if isinstance(nvml, str):
        return (), nvml
    try:
        count = nvml.nvmlDeviceGetCount()
        gpus = []
        for index in range(count):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                busy = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except nvml.NVMLError:  # some devices (vGPU, MIG) do not report it
                busy = 0.0
            gpus.append(
                GpuSample(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    utilisation_percent=min(busy, 100.0),
                    vram_total_mb=int(memory.total) // _MB,
                    vram_free_mb=int(memory.free) // _MB,
                )
            )
    except nvml.NVMLError as exc:
        return (), f"NVML failed ({_nvml_reason(exc)})"
    return tuple(gpus), None if gpus else "no NVIDIA GPU"


def measure(sampler: Sampler, rounds: int = 200) -> float:
    """Median seconds one ``sampler.sample()`` takes (what the module docstring reports)."""
    sampler.sample()  # the first sample pays NVML's initialisation
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        sampler.sample()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


if __name__ == "__main__":
    system = SystemSampler()
    print(system.sample().model_dump_json(indent=2))
    print(f"one sample: {measure(system) * 1e6:.0f} µs (median of 200)")
