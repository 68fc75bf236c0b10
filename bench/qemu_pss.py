#!/usr/bin/env python3
"""Where one QEMU's memory goes: its PSS split by mapping (issue 16).

    bench/qemu_pss.py PID [GUEST_MIB=512]     breakdown of one QEMU
    bench/qemu_pss.py --ksm PID...            what KSM could merge between them

The breakdown reads /proc/PID/smaps. Guest RAM is the private anonymous
mapping at least GUEST_MIB large; TCG's translation cache is the anonymous
mapping QEMU made executable (rwx); the rest is QEMU's heap, small anonymous
mappings (thread stacks, malloc arenas, device state) and files (QEMU's binary
and libraries, and the kernel/initrd QEMU maps to load the guest), which PSS
already splits between the processes that map them.

--ksm hashes every present page of each QEMU's guest RAM (/proc/PID/pagemap,
then /proc/PID/mem) and counts the distinct ones: what the guests would cost if
ksmd merged every identical page, without turning ksmd on for the whole host.
Needs root.
"""
import collections
import hashlib
import re
import struct
import sys

MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


def category(size_mib, perms, name, guest_mib):
    if name.startswith("/"):
        return "file: shared libraries" if ".so" in name else "file: " + name.rsplit("/", 1)[-1]
    if name == "[heap]":
        return "heap"
    if name:
        return name
    if "x" in perms:
        return "TCG translation cache (rwx anon)"
    if size_mib >= guest_mib:
        return "guest RAM"
    return "other anonymous (stacks, arenas, device state)"


def breakdown(pid, guest_mib):
    kib = collections.Counter()
    current = None
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            m = MAPPING.match(line)
            if m:
                size_mib = (int(m[2], 16) - int(m[1], 16)) >> 20
                current = category(size_mib, m[3], m[4], guest_mib)
            elif line.startswith("Pss:"):
                kib[current] += int(line.split()[1])
    for name, v in kib.most_common():
        if v >= 256:
            print(f"| {name} | {v / 1024:.1f} MiB |")
    print(f"| **total PSS** | **{sum(kib.values()) / 1024:.1f} MiB** |")


def guest_ram_pages(pid, min_bytes=128 << 20):
    """Yields the contents of every present page of pid's guest RAM."""
    with open(f"/proc/{pid}/maps") as maps:
        ranges = [(int(m[1], 16), int(m[2], 16)) for m in
                  (re.match(r"([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0\s*$", l) for l in maps)
                  if m and int(m[2], 16) - int(m[1], 16) >= min_bytes]
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap, open(f"/proc/{pid}/mem", "rb") as mem:
        for start, end in ranges:
            pages = (end - start) >> 12
            pagemap.seek((start >> 12) * 8)
            entries = pagemap.read(pages * 8)
            for i in range(pages):
                if struct.unpack_from("<Q", entries, i * 8)[0] >> 63:  # present
                    mem.seek(start + i * 4096)
                    yield mem.read(4096)


def ksm_potential(pids):
    distinct, present, zero = set(), 0, 0
    empty = bytes(4096)
    for pid in pids:
        for page in guest_ram_pages(pid):
            present += 1
            zero += page == empty
            distinct.add(hashlib.sha1(page).digest())
    mib = lambda pages: pages * 4 / 1024
    print(f"{len(pids)} QEMUs: guest RAM present {mib(present):.1f} MiB (zero pages "
          f"{mib(zero):.1f}); distinct pages {mib(len(distinct)):.1f} MiB = "
          f"{mib(len(distinct)) / len(pids):.1f} MiB per VM if KSM merged them all")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--ksm":
        ksm_potential(sys.argv[2:])
    elif len(sys.argv) in (2, 3):
        breakdown(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 512)
    else:
        sys.exit(__doc__)
