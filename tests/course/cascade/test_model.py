import pytest
import torch

from course.cascade.model import SIZES, GPTConfig, TinyGPT, generate


def test_sizes_match_the_documented_parameter_counts():
    counts = {k: TinyGPT(c).n_params() for k, c in SIZES.items()}
    assert 0.2e6 < counts["small"] < 0.3e6 and 2.5e6 < counts["large"] < 3.0e6


def test_forward_is_causal():
    torch.manual_seed(0)
    model = TinyGPT(SIZES["small"]).eval()
    x = torch.randint(0, 256, (2, 20))
    y = x.clone()
    y[:, 10:] = (y[:, 10:] + 1) % 256
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == (2, 20, 256)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_context_and_head_rules_are_enforced():
    with pytest.raises(ValueError, match="n_heads"):
        GPTConfig(n_layers=1, d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="context"):
        TinyGPT(SIZES["small"])(torch.zeros(1, 65, dtype=torch.long))


def test_greedy_generation_is_deterministic_and_sampling_follows_the_generator():
    torch.manual_seed(1)
    model = TinyGPT(SIZES["small"])
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    assert generate(model, b"ab", 10, temperature=0, generator=g(0)) == \
        generate(model, b"ab", 10, temperature=0, generator=g(5))
    assert generate(model, b"ab", 30, temperature=1, generator=g(0)) == \
        generate(model, b"ab", 30, temperature=1, generator=g(0))
    with pytest.raises(ValueError, match="temperature"):
        generate(model, b"a", 1, temperature=-1, generator=g(0))
