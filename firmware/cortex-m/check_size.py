#!/usr/bin/python3
"""Check a firmware image against its flash and RAM budget with arm-none-eabi-size.

    check_size.py SIZE_TOOL IMAGE FLASH_MAX RAM_MAX

flash = text + data (the initial values of .data live in flash), RAM = data + bss (the
stack is a .bss array, so it is counted). Prints the figures; exits 1 when over budget."""
import subprocess
import sys

size_tool, image, flash_max, ram_max = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = subprocess.run([size_tool, "--format=berkeley", image], check=True, capture_output=True,
                     text=True).stdout
print(out.rstrip())
text, data, bss = (int(x) for x in out.splitlines()[1].split()[:3])
flash, ram = text + data, data + bss
print(f"{image}: flash {flash} B of {flash_max} ({100 * flash / flash_max:.0f}%), "
      f"RAM {ram} B of {ram_max} ({100 * ram / ram_max:.0f}%)")
sys.exit(0 if flash <= flash_max and ram <= ram_max and text > 1000 else 1)
