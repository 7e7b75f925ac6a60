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

LIBRARY = Path(pyfrozen._core.__file__).with_name("libpyfrozen_core.so")  # editable too


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


def innermost_fma_loops() -> dict[str, list[list[str]]]:
    """Per AVX2 function, the bodies of its innermost loops that contain FMAs.

    A loop is a backward conditional branch and the code from its target to it; an
    unconditional backward jmp is block layout, not a loop."""
    objdump = shutil.which("objdump")
    assert objdump
    text = subprocess.run([objdump, "-d", "--no-show-raw-insn", "-C", str(LIBRARY)],
                          capture_output=True, text=True, check=True).stdout
    loops: dict[str, list[list[str]]] = {}
    for block in re.split(r"\n(?=[0-9a-f]+ <)", text):
        name = re.match(r"[0-9a-f]+ <(.*)>:", block)
        if not name or "avx2::" not in name.group(1):
            continue
        insns = [(int(m.group(1), 16), m.group(2))
                 for m in re.finditer(r"^\s+([0-9a-f]+):\s+(.*)$", block, flags=re.M)]
        jumps = [(addr, int(t.group(1), 16)) for addr, ins in insns
                 if (t := re.match(r"j(?!mp)\w+\s+([0-9a-f]+)", ins))  # conditional
                 and int(t.group(1), 16) < addr]
        for end, start in jumps:
            if any(start < s2 and e2 < end for e2, s2 in jumps if (e2, s2) != (end, start)):
                continue  # an enclosing loop, not an innermost one
            body = [ins for addr, ins in insns if start <= addr <= end]
            if any("vfmadd" in ins for ins in body):
                loops.setdefault(name.group(1), []).append(body)
    return loops


def test_gemm_micro_kernel_inner_loops_do_not_spill_to_the_stack():
    # Twelve accumulators, two B vectors and a broadcast fill the 16 ymm registers:
    # a spilled accumulator adds a store/load to every step (it halved the speed once).
    loops = innermost_fma_loops()
    gemm = {name: bodies for name, bodies in loops.items() if re.search(r"::(tile|dot)\w*<", name)}
    assert any("tile" in name for name in gemm), "no FMA loops found in the AVX2 tile kernels"
    for name, bodies in gemm.items():
        for body in bodies:
            spills = [ins for ins in body if re.search(r"\(%r[sb]p\)", ins)]
            assert spills == [], f"{name}: stack access in an FMA loop: {spills}"
