"""AVX2 code must stay inside the AVX2 translation units: in the linked library, no
function outside namespace pyfrozen::detail::avx2 may use ymm/zmm registers (an
inline helper compiled with -mavx2 could otherwise be the copy the linker keeps for
generic callers, and crash a CPU without AVX2)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pyfrozen

LIBRARY = Path(pyfrozen.__file__).with_name("libpyfrozen_core.so")


def functions_using_wide_registers() -> dict[str, int]:
    objdump = shutil.which("objdump")
    assert objdump, "objdump (binutils) is needed to inspect the linked library"
    text = subprocess.run([objdump, "-d", "--no-show-raw-insn", "-C", str(LIBRARY)],
                          capture_output=True, text=True, check=True).stdout
    found: dict[str, int] = {}
    current = None
    for line in text.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            current = header.group(1)
        elif current and re.search(r"%[yz]mm\d", line):
            found[current] = found.get(current, 0) + 1
    return found


def test_only_avx2_functions_touch_ymm_registers():
    users = functions_using_wide_registers()
    assert any("avx2::" in name for name in users), "AVX2 kernels not found: symbols stripped?"
    leaked = sorted(name for name in users if "avx2::" not in name)
    assert leaked == []
