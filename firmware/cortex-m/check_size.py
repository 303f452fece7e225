#!/usr/bin/python3
"""Check firmware images against their flash and RAM budget with arm-none-eabi-size.

    check_size.py SIZE_TOOL FLASH_MAX RAM_MAX IMAGE...

flash = text + data (the initial values of .data live in flash), RAM = data + bss (the
stack is a .bss array, so it is counted). Prints the figures of every image; exits 1 when
any is over budget (or implausibly small: the app was not linked in)."""
import subprocess
import sys

size_tool, flash_max, ram_max = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ok = True
for image in sys.argv[4:]:
    out = subprocess.run([size_tool, "--format=berkeley", image], check=True,
                         capture_output=True, text=True).stdout
    print(out.rstrip())
    text, data, bss = (int(x) for x in out.splitlines()[1].split()[:3])
    flash, ram = text + data, data + bss
    fits = flash <= flash_max and ram <= ram_max and text > 1000
    print(f"{image}: flash {flash} B of {flash_max} ({100 * flash / flash_max:.0f}%), "
          f"RAM {ram} B of {ram_max} ({100 * ram / ram_max:.0f}%){'' if fits else '  OVER BUDGET'}")
    ok = ok and fits
sys.exit(0 if ok and len(sys.argv) > 4 else 1)
