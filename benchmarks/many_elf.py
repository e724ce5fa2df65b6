#!/usr/bin/env python3
"""Write an x86-64 ELF executable with N USDT probes directly, without a compiler.

    python benchmarks/many_elf.py N OUT

``fixtures/build.sh --many N`` compiles one C file with N ``STAP_PROBE``
sites, which takes minutes and gigabytes of compiler memory at 100,000
probes and more than the machine has at 400,000.  This writes the file
that such a build would give, section by section, in seconds and in memory
proportional to the output: probe ``p<i>`` of provider ``fxmany`` has one
site, a ``nop`` in function ``chunk<i // 250>``, and the arguments of
fixtures/src/gen-many.py's mix (``i % 4``: none; a register; two
immediates; two immediates and a register), spelled as GCC spells them.
The notes, ``.stapsdt.base``, the function symbols and the one loadable
segment are what ``readelf -n``, gdb, bpftrace and tplist read; nothing
runs the program.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

PER_FUNCTION = 250
BASE_ADDRESS = 0x400000
REGISTERS = ("%eax", "%edx", "%ecx", "%esi", "%edi", "%r8d")


def arguments(i: int) -> str:
    kind = i % 4
    register = REGISTERS[i % len(REGISTERS)]
    if kind == 0:
        return ""
    if kind == 1:
        return f"-4@{register}"
    if kind == 2:
        return f"-4@${i} -8@$-{i * 1000}"
    return f"1@${i & 0xFF} -2@$-{i % 30000} 8@%r{'abcd'[i % 4]}x"


def _note(pc: int, base: int, provider: str, name: str, args: str) -> bytes:
    desc = struct.pack("<QQQ", pc, base, 0) + f"{provider}\0{name}\0{args}\0".encode()
    # n_namesz, n_descsz (unpadded), n_type 3 (NT_STAPSDT); name and desc padded to 4.
    return struct.pack("<III", 8, len(desc), 3) + b"stapsdt\0" + desc + b"\0" * (-len(desc) % 4)


def build(count: int) -> bytes:
    """The whole file."""
    width = max(5, len(str(count - 1)))
    functions = (count + PER_FUNCTION - 1) // PER_FUNCTION
    header_size, phdr_size = 64, 56
    text_offset = 0x1000
    # Each function: its sites' nops, then ret.
    text = bytearray()
    function_spans: list[tuple[int, int]] = []
    site_offsets: list[int] = []
    for f in range(functions):
        start = len(text)
        for _ in range(f * PER_FUNCTION, min(count, (f + 1) * PER_FUNCTION)):
            site_offsets.append(len(text))
            text += b"\x90"
        text += b"\xc3"
        function_spans.append((start, len(text) - start))
    text_address = BASE_ADDRESS + text_offset
    base_offset = text_offset + len(text)
    base_address = BASE_ADDRESS + base_offset  # .stapsdt.base: one byte after the code
    segment_size = base_offset + 1
    notes = bytearray()
    for i in range(count):
        pc = text_address + site_offsets[i]
        notes += _note(pc, base_address, "fxmany", f"p{i:0{width}d}", arguments(i))
    notes_offset = (base_offset + 1 + 7) & ~7
    strtab = bytearray(b"\0")
    symbols = bytearray(b"\0" * 24)
    for f, (start, size) in enumerate(function_spans):
        name_offset = len(strtab)
        strtab += f"chunk{f}\0".encode()
        # st_name, st_info (GLOBAL FUNC), st_other, st_shndx (.text = 1), st_value, st_size
        symbols += struct.pack("<IBBHQQ", name_offset, 0x12, 0, 1, text_address + start, size)
    shstrtab = bytearray(b"\0")
    names: dict[str, int] = {}
    for section in (".text", ".stapsdt.base", ".note.stapsdt", ".symtab", ".strtab", ".shstrtab"):
        names[section] = len(shstrtab)
        shstrtab += section.encode() + b"\0"
    symtab_offset = (notes_offset + len(notes) + 7) & ~7
    strtab_offset = symtab_offset + len(symbols)
    shstrtab_offset = strtab_offset + len(strtab)
    shdr_offset = (shstrtab_offset + len(shstrtab) + 7) & ~7
    sections = [
        struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        # name, type, flags, addr, offset, size, link, info, addralign, entsize
        struct.pack(
            "<IIQQQQIIQQ", names[".text"], 1, 6, text_address, text_offset, len(text), 0, 0, 16, 0
        ),
        struct.pack(
            "<IIQQQQIIQQ", names[".stapsdt.base"], 1, 2, base_address, base_offset, 1, 0, 0, 1, 0
        ),
        struct.pack(
            "<IIQQQQIIQQ", names[".note.stapsdt"], 7, 0, 0, notes_offset, len(notes), 0, 0, 4, 0
        ),
        struct.pack(
            "<IIQQQQIIQQ", names[".symtab"], 2, 0, 0, symtab_offset, len(symbols), 5, 1, 8, 24
        ),
        struct.pack(
            "<IIQQQQIIQQ", names[".strtab"], 3, 0, 0, strtab_offset, len(strtab), 0, 0, 1, 0
        ),
        struct.pack(
            "<IIQQQQIIQQ", names[".shstrtab"], 3, 0, 0, shstrtab_offset, len(shstrtab), 0, 0, 1, 0
        ),
    ]
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    elf_header = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2,  # ET_EXEC
        62,  # EM_X86_64
        1,
        text_address,  # e_entry: the first function
        header_size,  # e_phoff
        shdr_offset,
        0,
        header_size,
        phdr_size,
        1,  # one PT_LOAD
        64,
        len(sections),
        len(sections) - 1,  # .shstrtab
    )
    # PT_LOAD R+X from file offset 0: headers, .text and .stapsdt.base.
    program_header = struct.pack(
        "<IIQQQQQQ", 1, 5, 0, BASE_ADDRESS, BASE_ADDRESS, segment_size, segment_size, 0x1000
    )
    out = bytearray(elf_header + program_header)
    out += b"\0" * (text_offset - len(out))
    out += text + b"\0"  # the .stapsdt.base byte
    out += b"\0" * (notes_offset - len(out))
    out += notes
    out += b"\0" * (symtab_offset - len(out))
    out += symbols + strtab + shstrtab
    out += b"\0" * (shdr_offset - len(out))
    out += b"".join(sections)
    return bytes(out)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    count, out = int(argv[1]), Path(argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(build(count))
    out.chmod(0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
