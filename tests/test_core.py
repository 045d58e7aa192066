"""The pure maths of the differential step, and re-noising against the schedulers' own trajectories."""

from __future__ import annotations

import doctest

import pytest
import torch

import diffdiff.core
from diffdiff.core import (
    NEVER,
    area_resample,
    blend,
    free_at,
    free_steps,
    start_positions,
    steps_for_strength,
    strength_for_steps,
    typed_strength,
)
from diffdiff.schedulers import make_scheduler, noise_kind, renoise


def test_doctests():
    assert doctest.testmod(diffdiff.core).failed == 0


@pytest.mark.parametrize("rounding", ["floor", "ceil"])
@pytest.mark.parametrize("n_steps", [1, 2, 3, 7, 10, 25, 30, 50, 999])
def test_strength_for_steps_round_trips(rounding, n_steps):
    for k in range(n_steps + 1):
        assert steps_for_strength(strength_for_steps(k, n_steps, rounding), n_steps, rounding) == k


SCAN_STEPS = (10, 20, 25, 30, 50, 100)
SCAN_STRENGTHS = [round(0.01 * i, 2) for i in range(1, 100)]


@pytest.mark.parametrize("rounding", ["floor", "ceil"])
@pytest.mark.parametrize("n_steps", [4, 10, 30])
def test_free_steps_match_diffusers_rounding_for_float32_maps(rounding, n_steps):
    """A map value of m (stored in float32) frees exactly the steps img2img at strength m runs."""
    for m in [*torch.linspace(0, 1, 101).tolist(), 0.3, 0.55, 0.7, 0.9]:
        value = round(m, 6)
        k = free_steps(torch.tensor([value], dtype=torch.float32), n_steps, rounding).item()
        assert k == steps_for_strength(value, n_steps, rounding), (value, n_steps)


@pytest.mark.parametrize(("family", "rounding"), [("sd", "floor"), ("sd3", "ceil")])
def test_step_count_scan_equals_stock_get_timesteps(editors, family, rounding):
    """Every m in 0.01..0.99 at N in {10, 20, 25, 30, 50, 100}: the map's k(m) is the number of steps the
    stock pipeline's own ``get_timesteps`` runs at ``strength=m`` (the float error of N * float32(m) used
    to move about 50 of these cases by a step)."""
    pipe = editors(family).pipe
    assert editors(family).adapter.rounding == rounding
    mismatches = []
    for n_steps in SCAN_STEPS:
        change = torch.tensor(SCAN_STRENGTHS, dtype=torch.float32)
        ks = free_steps(change, n_steps, rounding).tolist()
        for m, k in zip(SCAN_STRENGTHS, ks, strict=True):
            pipe.scheduler.set_timesteps(n_steps)
            _, stock = pipe.get_timesteps(n_steps, m, "cpu")
            if k != stock:
                mismatches.append((n_steps, m, k, stock))
    assert mismatches == []


def test_free_steps_reads_the_typed_decimal_not_the_float32_product():
    # The cases the old tolerance got wrong: SDXL N=50 m=0.58 (stock 28 steps), Flux N=25 m=0.56 (stock 15).
    assert typed_strength(float(torch.tensor(0.58))) == 0.58
    assert free_steps(torch.tensor([0.58]), 50, "floor").item() == steps_for_strength(0.58, 50, "floor") == 28
    assert free_steps(torch.tensor([0.56]), 25, "ceil").item() == steps_for_strength(0.56, 25, "ceil") == 15
    # 8-bit map levels are read through their own decimal too (0.2 is 51/255).
    levels = torch.arange(256, dtype=torch.float32) / 255
    for n_steps in SCAN_STEPS:
        expected = [steps_for_strength(typed_strength(v), n_steps) if v > 0 else 0 for v in levels.tolist()]
        assert free_steps(levels, n_steps).tolist() == expected


def test_design_example_rounding():
    assert free_steps(torch.tensor([0.55]), 10, "ceil").item() == 6
    assert free_steps(torch.tensor([0.55]), 10, "floor").item() == 5


def test_keep_is_never_free():
    k = free_steps(torch.tensor([0.0, 1e-9, 0.05, 1.0]), 10)
    assert k.tolist() == [0, 0, 0, 10]
    starts = start_positions(k, 10, order=1)
    assert starts[0] == NEVER
    # PNDM has one more position than steps: a kept pixel must not become free at the last one.
    assert not free_at(starts, 10)[0]


def test_start_positions_never_split_a_second_order_step():
    k = torch.arange(0, 6)
    starts = start_positions(k, 5, order=2)
    assert all(int(s) % 2 == 0 for s in starts[1:])
    assert starts.tolist()[1:] == [8, 6, 4, 2, 0]


def test_blend_and_area_resample():
    x, x0_t = torch.ones(1, 2, 2, 2), torch.zeros(1, 2, 2, 2)
    free = torch.tensor([[[[True, False], [False, True]]]])
    assert blend(x, x0_t, free)[0, 1].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    change = torch.zeros(1, 1, 4, 4)
    change[..., :2, :2] = 1.0
    assert area_resample(change, (2, 2))[0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert area_resample(change, (1, 1)).item() == 0.25
    with pytest.raises(ValueError, match="change: expected shape"):
        area_resample(torch.zeros(4, 4), (2, 2))


SD_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "clip_sample": False,
}


@pytest.mark.parametrize("name", ["euler", "ddim", "pndm", "dpm++2m", "dpm++2m-karras", "heun", "lms", "unipc"])
def test_renoise_follows_the_exact_trajectory(name):
    """With a perfect noise prediction the sampler's trajectory is exactly the re-noised original, so
    after the step at each position the sample must equal ``renoise`` at the next position: this pins
    down which level the editor re-noises kept pixels to, for every scheduler."""
    from diffusers import PNDMScheduler

    scheduler = make_scheduler(name, PNDMScheduler.from_config(SD_CONFIG).config)
    scheduler.set_timesteps(8)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(1, 4, 6, 6, generator=g), torch.randn(1, 4, 6, 6, generator=g)
    x = renoise(x0, eps, scheduler, 0)
    last = len(scheduler.timesteps) - 1
    for position, t in enumerate(scheduler.timesteps):
        scheduler.scale_model_input(x, t)
        x = scheduler.step(eps, t, x).prev_sample
        if position < last:  # DDIM/PNDM end at alphas_cumprod[0], not at t = 0; the editor puts x0 there
            torch.testing.assert_close(x, renoise(x0, eps, scheduler, position + 1), rtol=1e-4, atol=1e-4)
    assert torch.equal(renoise(x0, eps, scheduler, last + 1), x0)


def test_noise_kinds():
    from diffusers import PNDMScheduler

    config = PNDMScheduler.from_config(SD_CONFIG).config
    kinds = {name: noise_kind(make_scheduler(name, config)) for name in ["euler", "ddim", "dpm++2m", "heun", "pndm"]}
    assert kinds == {"euler": "ve-sigma", "ddim": "alphas-cumprod", "dpm++2m": "vp-sigma", "heun": "ve-sigma",
                     "pndm": "alphas-cumprod"}
    flow = make_scheduler("flow-euler", {"num_train_timesteps": 1000, "shift": 3.0})
    flow.set_timesteps(4)
    assert noise_kind(flow) == "flow"
    x0, eps = torch.zeros(1), torch.ones(1)
    assert renoise(x0, eps, flow, 0).item() == pytest.approx(flow.sigmas[0].item())
