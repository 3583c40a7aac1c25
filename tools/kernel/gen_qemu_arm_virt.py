#!/usr/bin/python3
"""Generate the seL4 5.0 platform `qemu-arm-virt` from `hikey` in a build copy.

Usage: gen_qemu_arm_virt.py SEL4_SRC

seL4 5.0 has no platform for QEMU's `virt` machine. hikey (Cortex-A53) uses
the same kinds of devices QEMU virt has (PL011 UART, GICv2, the generic timer
on PPI 27), so its files are copied and only the board facts are substituted:
addresses, RAM, the timer frequency. Every substitution must match exactly
once, so a different hikey source fails here instead of building a kernel
that silently keeps a hikey value. Stdlib only; run by tools/kernel/build.sh.
"""

import re
import shutil
import sys
from pathlib import Path

NAME = "qemu-arm-virt"

# QEMU `virt` facts (hw/arm/virt.c memory map; QEMU 7.2 CNTFRQ for cortex-a53).
GIC_DIST = 0x08000000
GIC_CPU = 0x08010000
UART0 = 0x09000000
RTC = 0x09010000
GPIO = 0x09030000
VIRTIO_MMIO = (0x0A000000, 0x0A004000)
TIMER_HZ = 62500000
# QEMU puts a 1 MiB DTB ROM at the RAM base 0x40000000: the kernel starts 2 MiB
# above it (a 2 MiB block boundary for the loader's mappings).
PHYS_BASE = 0x40200000
# Kernel-managed RAM. The AArch64 loader lives at and above RAM_END, so the
# kernel never hands out memory that the loader is still running from.
RAM_END = 0x60000000


def sub(path: Path, pattern: str, repl: str, flags: int = 0) -> None:
    """Replace the single match of regex `pattern` in `path`, or fail."""
    text = path.read_text()
    new, n = re.subn(pattern, repl, text, flags=flags)
    if n != 1:
        sys.exit(f"gen_qemu_arm_virt: expected one match of {pattern!r} in {path}, got {n}")
    path.write_text(new)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = Path(sys.argv[1])
    pairs = [
        (src / "include/plat/hikey", src / "include/plat" / NAME),
        (src / "src/plat/hikey", src / "src/plat" / NAME),
        (src / "libsel4/sel4_plat_include/hikey", src / "libsel4/sel4_plat_include" / NAME),
    ]
    for old, new in pairs:
        if new.exists():
            shutil.rmtree(new)
        shutil.copytree(old, new)

    inc = src / "include/plat" / NAME / "plat/machine"
    plat = src / "src/plat" / NAME

    # hikey's autoconf.h is an AArch32 userland config; build.sh installs ours.
    (src / "include/plat" / NAME / "autoconf.h").unlink()

    sub(plat / "machine/Makefile", r"src/plat/hikey/machine", f"src/plat/{NAME}/machine")
    # src/arch/arm/machine/Makefile adds the GICv2 driver for PLAT=hikey only;
    # our platform's own Makefile (included after it) adds it for us.
    sub(
        plat / "machine/Makefile",
        r"(PLAT_C_SOURCES \+= [^\n]*\n)",
        r"\g<1>ARCH_C_SOURCES += machine/gic_pl390.c\n",
    )

    # Linker script: the kernel's physical load address (AArch64 branch).
    sub(
        plat / "linker.lds",
        r"(#elif defined\(CONFIG_ARCH_AARCH64\)\s*\nPHYS_BASE = )0x[0-9a-fA-F]+;",
        rf"\g<1>{PHYS_BASE:#x};",
    )

    # Devices: keep the kernel's three (GIC distributor and CPU interface,
    # UART0); drop hikey's list of board devices.
    dev = inc / "devices.h"
    sub(dev, r"#define GIC_DISTRIBUTOR_PADDR\s+.*", f"#define GIC_DISTRIBUTOR_PADDR       {GIC_DIST:#010x}")
    sub(dev, r"#define GIC_CONTROLLER0_PADDR\s+.*", f"#define GIC_CONTROLLER0_PADDR       {GIC_CPU:#010x}")
    sub(
        dev,
        r"#define UART0_PADDR\s+0x[0-9A-Fa-f]+\n(?:#define \w+_PADDR\s+0x[0-9A-Fa-f]+\n)+",
        f"#define UART0_PADDR                 {UART0:#010x}\n"
        f"#define RTC_PADDR                   {RTC:#010x}\n"
        f"#define GPIO_PADDR                  {GPIO:#010x}\n"
        f"#define VIRTIO_MMIO_PADDR           {VIRTIO_MMIO[0]:#010x}\n"
        f"#define VIRTIO_MMIO_END             {VIRTIO_MMIO[1]:#010x}\n",
    )
    sub(dev, r"memory addresses of HiSilicon hi6220 platform", "memory addresses of QEMU virt (generated from hikey)")

    hw = inc / "hardware.h"
    sub(hw, r"#define TIMER_CLOCK_HZ\s+\d+llu", f"#define TIMER_CLOCK_HZ      {TIMER_HZ}llu")
    sub(hw, r"#define physBase\s+0x[0-9a-fA-F]+", f"#define physBase            {PHYS_BASE:#x}")
    sub(
        hw,
        r"(avail_p_regs\[\] = \{\s*\{ \.start = )0x[0-9a-fA-F]+(, \.end = )0x[0-9a-fA-F]+",
        rf"\g<1>{PHYS_BASE:#x}\g<2>{RAM_END:#x}",
    )
    # Device regions handed to user space as device untypeds.
    regions = [
        ("UART0_PADDR", "UART0_PADDR + (1 << PAGE_BITS)"),
        ("RTC_PADDR", "RTC_PADDR + (1 << PAGE_BITS)"),
        ("GPIO_PADDR", "GPIO_PADDR + (1 << PAGE_BITS)"),
        ("VIRTIO_MMIO_PADDR", "VIRTIO_MMIO_END"),
    ]
    body = "".join(f"    {{ /* .start = */ {s}, /* .end = */ {e} }},\n" for s, e in regions)
    sub(hw, r"(dev_p_regs\[\] = \{\n)(?:    \{[^\n]*\},\n)+(\};)", rf"\g<1>{body}\g<2>")


if __name__ == "__main__":
    main()
