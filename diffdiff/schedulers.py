"""Scheduler-aware pieces of the differential step: re-noising with the scheduler's own arrays, and
choosing a scheduler by name.

Re-noising reads ``scheduler.sigmas`` / ``scheduler.alphas_cumprod`` at an explicit position instead of
calling ``scheduler.add_noise``: once a loop has begun, sigma schedulers' ``add_noise`` ignores the
timestep it is given and uses its internal ``step_index``, which is right only by accident.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["SCHEDULER_NAMES", "make_scheduler", "noise_kind", "renoise"]

# name -> (diffusers class name, config overrides)
_SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "lms": ("LMSDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpm++2m-karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "unipc": ("UniPCMultistepScheduler", {}),
    "flow-euler": ("FlowMatchEulerDiscreteScheduler", {}),
}
SCHEDULER_NAMES: tuple[str, ...] = tuple(_SCHEDULERS)
_ALIASES = {"euler_a": "euler-ancestral", "euler-a": "euler-ancestral", "dpmpp2m": "dpm++2m"}


def make_scheduler(scheduler: Any, base_config: Any):
    """Build a scheduler from a name, or accept a scheduler object as it is.

    Args:
        scheduler: a name from :data:`SCHEDULER_NAMES` (``"euler"``, ``"ddim"``, ``"dpm++2m"``,
            ``"heun"``, ...) or a diffusers scheduler instance.
        base_config: the pipeline's current scheduler config (training betas, spacing, offsets), which
            a named scheduler inherits so that it fits the model.

    Returns:
        A diffusers scheduler.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
        TypeError: for anything that is neither a name nor a scheduler.
    """
    if isinstance(scheduler, str):
        import diffusers

        key = _ALIASES.get(scheduler.lower(), scheduler.lower())
        if key not in _SCHEDULERS:
            raise ValueError(f"scheduler: unknown name {scheduler!r}; expected one of {', '.join(SCHEDULER_NAMES)}")
        class_name, overrides = _SCHEDULERS[key]
        return getattr(diffusers, class_name).from_config(base_config, **overrides)
    if hasattr(scheduler, "set_timesteps") and hasattr(scheduler, "step"):
        return scheduler
    raise TypeError(f"scheduler: expected a name or a diffusers scheduler, got {type(scheduler).__name__}")


def noise_kind(scheduler) -> str:
    """How a scheduler's samples relate to ``(x0, eps)``.

    Returns:
        ``"flow"`` (``sigma*eps + (1-sigma)*x0``: flow matching), ``"vp-sigma"`` (``alpha_t*x0 +
        sigma_t*eps`` from ``sigmas``: DPM-Solver, UniPC, DEIS), ``"ve-sigma"`` (``x0 + sigma*eps``:
        Euler, Heun, LMS) or ``"alphas-cumprod"`` (``sqrt(a)*x0 + sqrt(1-a)*eps``: DDIM, PNDM,
        DDPM, LCM).
    """
    if "FlowMatch" in type(scheduler).__name__ or getattr(scheduler.config, "use_flow_sigmas", False):
        return "flow"
    if hasattr(scheduler, "_sigma_to_alpha_sigma_t"):
        return "vp-sigma"
    if hasattr(scheduler, "sigmas"):
        return "ve-sigma"
    if hasattr(scheduler, "alphas_cumprod"):
        return "alphas-cumprod"
    raise TypeError(f"scheduler: cannot re-noise with {type(scheduler).__name__}: no sigmas or alphas_cumprod")


def renoise(x0: torch.Tensor, eps: torch.Tensor, scheduler, position: int) -> torch.Tensor:
    """The original re-noised to the level of ``scheduler.timesteps[position]``.

    ``position == len(scheduler.timesteps)`` is the end of the schedule (``t_N = 0``), where the result
    is ``x0`` itself, bit for bit.

    Args:
        x0: ``(B, C, h, w)`` clean latents (or pixels).
        eps: same shape, the run's one noise tensor.
        scheduler: a diffusers scheduler after ``set_timesteps``.
        position: index into ``scheduler.timesteps``, ``0 <= position <= len(timesteps)``.

    Returns:
        ``(B, C, h, w)`` in ``x0``'s dtype.
    """
    n_positions = len(scheduler.timesteps)
    if not 0 <= position <= n_positions:
        raise IndexError(f"position: expected 0..{n_positions}, got {position}")
    if position == n_positions:
        return x0
    kind = noise_kind(scheduler)
    work = torch.float32 if x0.dtype in (torch.float16, torch.bfloat16) else x0.dtype
    x0_w, eps_w = x0.to(work), eps.to(work)
    if kind == "alphas-cumprod":
        t = int(scheduler.timesteps[position])
        alpha = scheduler.alphas_cumprod[t].to(device=x0.device, dtype=work)
        out = alpha.sqrt() * x0_w + (1 - alpha).sqrt() * eps_w
    else:
        sigma = scheduler.sigmas[position].to(device=x0.device, dtype=work)
        if kind == "flow":
            out = sigma * eps_w + (1 - sigma) * x0_w
        elif kind == "vp-sigma":
            alpha_t, sigma_t = scheduler._sigma_to_alpha_sigma_t(sigma)
            out = alpha_t * x0_w + sigma_t * eps_w
        else:
            out = x0_w + sigma * eps_w
    return out.to(x0.dtype)
