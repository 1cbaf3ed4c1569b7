"""#8: the one device resolver and threads check turn impossible settings into errors that say what to set."""

import pytest
import torch

from movielens_dag.runtime import (
    RuntimeConfigError,
    check_threads,
    resolve_device,
    torch_threads,
)


@pytest.mark.parametrize("threads", [0, -1, True, 1.5, "2"])
def test_threads_must_be_a_positive_count(threads):
    with pytest.raises(RuntimeConfigError, match=r"threads must be a positive number of CPU threads .* got"):
        check_threads(threads)


def test_valid_threads_pass_and_are_restored():
    assert check_threads(None) is None and check_threads(3) == 3
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeConfigError), torch_threads(0):
        pass
    assert torch.get_num_threads() == before


def _gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_cuda_without_a_gpu_says_to_use_cpu_or_auto(monkeypatch):
    _gpus(monkeypatch, 0)
    for device in ("cuda", "cuda:7", "CUDA:0"):
        with pytest.raises(
            RuntimeConfigError, match=r"torch sees no CUDA GPU on this machine; set device to 'cpu' or 'auto'"
        ):
            resolve_device(device)
    assert resolve_device("auto") in ("cpu", "mps") and resolve_device(" CPU ") == "cpu"


def test_a_gpu_index_past_the_last_gpu_lists_the_valid_ones(monkeypatch):
    _gpus(monkeypatch, 2)
    with pytest.raises(RuntimeConfigError, match=r"'cuda:7': this machine has 2 CUDA GPU\(s\), cuda:0..cuda:1"):
        resolve_device("cuda:7")
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("auto") == "cuda"


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu", "cuda:-1"])
def test_unknown_device_names_list_the_choices(monkeypatch, device):
    _gpus(monkeypatch, 1)
    with pytest.raises(RuntimeConfigError, match=r"is not a device name; use 'auto'"):
        resolve_device(device)


def test_embeddings_use_the_same_resolver(monkeypatch, tmp_path):
    from movielens_dag.embeddings.encode import load_encoder
    from movielens_dag.embeddings.models import ModelSource
    from movielens_dag.embeddings.settings import EmbeddingSettings

    _gpus(monkeypatch, 0)
    source = ModelSource("x", "x", tmp_path, "0" * 64)  # never loaded: the device fails first
    with pytest.raises(RuntimeConfigError, match="set device to 'cpu' or 'auto'"):
        load_encoder(source, EmbeddingSettings(device="cuda:7"))
    with pytest.raises(RuntimeConfigError, match="is not a device name"):
        load_encoder(source, EmbeddingSettings(device="gpu"))
