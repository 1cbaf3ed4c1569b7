"""Where torch runs: one device resolver and one CPU-thread setting for every model in the package.

Plain code (no Dagster). torch is imported inside the functions, so importing this module is cheap.
A bad value fails with a message that says what to set instead of a raw torch error.
"""

from collections.abc import Iterator
from contextlib import contextmanager

DEVICE_HELP = "use 'auto' (CUDA > MPS > CPU), 'cpu', 'cuda', 'cuda:<index>' or 'mps'"


class RuntimeConfigError(ValueError):
    """A device or thread setting this machine cannot honour."""


def resolve_device(device: str = "auto") -> str:
    """'auto' -> the best device here; anything else is checked against what torch can see."""
    import torch

    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise RuntimeConfigError(f"device {device!r}: torch sees no Apple MPS device here; {DEVICE_HELP}")
        return "mps"
    if name == "cuda" or name.startswith("cuda:"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise RuntimeConfigError(
                f"device {device!r}: torch sees no CUDA GPU on this machine; set device to 'cpu' or 'auto'"
            )
        index = name.partition(":")[2]
        if index:
            if not index.isdigit():
                raise RuntimeConfigError(f"device {device!r} is not a device name; {DEVICE_HELP}")
            if int(index) >= count:
                raise RuntimeConfigError(
                    f"device {device!r}: this machine has {count} CUDA GPU(s), "
                    f"cuda:0..cuda:{count - 1}; set one of those, 'cuda' or 'auto'"
                )
        return name
    raise RuntimeConfigError(f"device {device!r} is not a device name; {DEVICE_HELP}")


def check_threads(threads: int | None) -> int | None:
    """``threads`` must be None (torch's default: one per core) or a positive count."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise RuntimeConfigError(
            f"threads must be a positive number of CPU threads (or null for torch's "
            f"default of one per core), got {threads!r}"
        )
    return threads


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` CPU threads inside the block (None: leave torch's setting), then restore it.

    On a CPU shared with other steps, 1 thread is often faster than all cores (see docs/benchmarks.md).
    """
    check_threads(threads)
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
