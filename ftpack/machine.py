"""What machine a figure came from: CPU model, cores and the instruction sets that decide speed.

The same run trains 4x slower and answers 1.5x slower on an AVX2-only CPU than on an AVX-512 one
(bf16 is emulated without avx512_bf16/AMX), so every timing ftpack reports names its machine.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

# The flags that change how fast torch and llama.cpp run here.
SPEED_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile", "amx_bf16",
               "neon", "asimd", "sve")


@lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """CPU model, logical CPUs, physical cores and speed-relevant ISA flags (Linux; best effort elsewhere)."""
    model, flags, cores = platform.processor() or platform.machine(), set(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        physical_id = core_id = None
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name":
                model = value
            elif key in ("flags", "Features"):
                flags.update(value.split())
            elif key == "physical id":
                physical_id = value
            elif key == "core id":
                core_id = value
                cores.add((physical_id, core_id))
    logical = os.cpu_count() or 1
    return {"model": model, "logical_cpus": logical, "physical_cores": len(cores) or logical,
            "isa": [flag for flag in SPEED_FLAGS if flag in flags], "arch": platform.machine()}


def describe() -> str:
    info = cpu_info()
    return (f"{info['model']}, {info['physical_cores']} cores ({info['logical_cpus']} logical), "
            f"{' '.join(info['isa']) or 'no AVX2'}")
