"""Choosing a torch device at run time (never at import, so importing ganvas never touches CUDA)."""

from __future__ import annotations

import torch

from ganvas.errors import GanvasError, named


def has_fast_bf16(device: torch.device) -> bool:
    """Whether bfloat16 matrix maths runs natively here (not emulated, which is slower than float32).

    CUDA GPUs from Ampere on; CPUs with AMX or AVX512-BF16 (recent Xeons). Apple's MPS: treated as no.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # torch.cpu's feature checks are private; a torch without them is treated as lacking the feature.
        checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
        return any(check() for check in checks if check is not None)
    return False


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple's MPS, then the CPU; a named device must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GanvasError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(device.type, False):
        raise GanvasError(f"device {name!r} is not available on this machine; use {named('device', 'cpu')} or auto")
    return device
