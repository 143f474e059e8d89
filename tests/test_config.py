import random

import numpy as np
import pytest
import torch

from course_lib import config


def test_budget_follows_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert config.budget(1000, 10) == 10
    monkeypatch.setenv("COURSE_FAST", "0")
    assert config.budget(1000, 10) == 1000


def test_seed_everything_makes_every_stream_repeat():
    config.seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    config.seed_everything(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_get_device():
    assert config.get_device("cpu") == torch.device("cpu")
    assert config.get_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            config.get_device("cuda")


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with config.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
