import pytest
import torch

# Tests run on one thread: on 2 cores, oversubscribed threads make small steps 5-40x slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
