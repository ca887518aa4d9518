"""What this CPU does in hardware, read from the flags in ``/proc/cpuinfo`` (Linux; where that
cannot be read, nothing is known and the callers take their portable choice)."""

from __future__ import annotations

from pathlib import Path


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags (``cpuinfo``: the text of ``/proc/cpuinfo``, read when not given)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    return frozenset(cpuinfo.split())


def has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether bfloat16 matrix work runs in hardware (AVX-512 BF16 or AMX); without it PyTorch
    emulates bfloat16 and it is slower than float32."""
    return bool(cpu_flags(cpuinfo) & {"avx512_bf16", "amx_bf16"})


def has_vnni(cpuinfo: str | None = None) -> bool:
    """Whether unsigned-by-signed int8 dot products add up in 32 bits in one instruction
    (AVX-512 VNNI or AVX-VNNI). Without it ONNX Runtime's u8×s8 kernels add pairs of products
    in 16 bits, which saturate (ONNX Runtime's quantization guide: "saturation issues" on AVX2
    and AVX-512 machines without VNNI)."""
    return bool(cpu_flags(cpuinfo) & {"avx512_vnni", "avx_vnni"})
