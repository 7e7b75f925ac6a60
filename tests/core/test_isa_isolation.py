"""ISA code must stay inside its translation units: in the linked library, no function
outside namespaces pyfrozen::detail::avx2 / avx512 may use ymm/zmm registers, and only
avx512 functions zmm ones (an inline helper compiled with -mavx2 or -mavx512f could
otherwise be the copy the linker keeps for generic or AVX2 callers, and crash a CPU
without that ISA)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pyfrozen

LIBRARY = Path(pyfrozen._core.__file__).with_name("libpyfrozen_core.so")  # editable too


ISA_NAMESPACES = ("avx2::", "avx512::")


def functions_using_registers(pattern: str) -> dict[str, int]:
    """Per function of the linked library, how many instructions name a register
    matching the regex `pattern`."""
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
        elif current and re.search(pattern, line):
            found[current] = found.get(current, 0) + 1
    return found


def test_only_isa_functions_touch_ymm_or_zmm_registers():
    users = functions_using_registers(r"%[yz]mm\d")
    for ns in ISA_NAMESPACES:
        assert any(ns in name for name in users), f"{ns} kernels not found: symbols stripped?"
    leaked = sorted(name for name in users if not any(ns in name for ns in ISA_NAMESPACES))
    assert leaked == []


def test_only_avx512_functions_touch_zmm_or_mask_registers():
    users = functions_using_registers(r"%zmm\d|%k[1-7]\b")
    assert any("avx512::" in name for name in users), "AVX-512 kernels not found"
    assert sorted(name for name in users if "avx512::" not in name) == []


def innermost_fma_loops() -> dict[str, list[list[str]]]:
    """Per AVX2 / AVX-512 function, the bodies of its innermost loops that contain FMAs.

    A loop is a backward conditional branch and the code from its target to it; an
    unconditional backward jmp is block layout, not a loop."""
    objdump = shutil.which("objdump")
    assert objdump
    text = subprocess.run([objdump, "-d", "--no-show-raw-insn", "-C", str(LIBRARY)],
                          capture_output=True, text=True, check=True).stdout
    loops: dict[str, list[list[str]]] = {}
    for block in re.split(r"\n(?=[0-9a-f]+ <)", text):
        name = re.match(r"[0-9a-f]+ <(.*)>:", block)
        if not name or not any(ns in name.group(1) for ns in ISA_NAMESPACES):
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
    # AVX2: twelve accumulators, two B vectors and a broadcast fill the 16 ymm registers;
    # AVX-512: 24 accumulators of 32 zmm. A spilled accumulator adds a store/load to
    # every step (it halved the speed once).
    loops = innermost_fma_loops()
    gemm = {name: bodies for name, bodies in loops.items() if re.search(r"::(tile|dot)\w*<", name)}
    for ns in ISA_NAMESPACES:
        assert any(ns in name and "tile" in name for name in gemm), f"no FMA loops in {ns} tiles"
    for name, bodies in gemm.items():
        # The 12-row AVX-512 tile reading A in place needs 12 row offsets, more general
        # registers than remain: it may reload an offset from the stack (a load beside
        # 12-24 FMAs); a vector register on the stack is still an error there.
        offsets_may_reload = "avx512::" in name and ", true>" in name
        for body in bodies:
            spills = [ins for ins in body if re.search(r"\(%r[sb]p\)", ins)
                      and (not offsets_may_reload or re.search(r"%[xyz]mm\d", ins))]
            assert spills == [], f"{name}: stack access in an FMA loop: {spills}"
