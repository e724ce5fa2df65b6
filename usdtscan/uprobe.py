"""A site as the line that ``/sys/kernel/tracing/uprobe_events`` accepts.

``p:GROUP/EVENT PATH:0xOFFSET(0xREFCTR) arg1=FETCHARG:TYPE ...`` traces one
site with all of its arguments, no BPF needed.  The offset is the site's
file offset and the reference counter the semaphore's, as the kernel wants
(Documentation/trace/uprobetracer.rst).  The kernel names registers its own
way per architecture (``regs_query_register_offset``: ``%ax`` on x86,
``%x0`` on arm64, ``%r2`` on s390; each architecture's
``kernel_registers`` in ``usdtscan/args/``); it can read general-purpose registers,
memory at a register plus an offset, memory at an offset in the same file
(``@+OFFSET``) and immediates (``\\IMM``), but not floating-point or vector
registers nor an index register, so such arguments are left out and named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .args.location import Constant, Location, Register, Symbol, Unparsed
from .basetypes import UprobeEvent

if TYPE_CHECKING:
    from .args.decode import DecodedArgument
    from .model import Site


_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def event_name(text: str) -> str:
    """A kernel event or group name: letters, digits and ``_``, not starting with a digit."""
    if _NAME.fullmatch(text):
        return text  # most names already are one
    name = _NOT_IN_NAME.sub("_", text) or "_"
    return f"_{name}" if name[0].isdigit() else name


def site_event_name(name: str, number: int) -> str:
    """The event of a probe's site ``number`` (0-based): ``NAME``, then ``NAME_1``,
    ``NAME_2``..., as ``perf probe`` names repeated events; one rule for every output."""
    return event_name(name) if number == 0 else f"{event_name(name)}_{number}"


# Relocation operators under which BASE + operator(symbol) is the symbol's own address.
_STATIC_RELOCATIONS = {"GOTOFF", "lo", "lo12", "got_ofst"}


class UnsupportedFetch(Exception):
    """The kernel's fetch-argument syntax cannot express this argument; ``str()`` says why."""


def fetch_location(decoded: DecodedArgument, machine: str, site: Site) -> str:
    """Where the argument is, in fetch-argument syntax, without its type suffix."""
    return _fetch(decoded.location, machine, site)


def fetch_argument(decoded: DecodedArgument, machine: str, site: Site, bits: int = 64) -> str:
    """The kernel fetch-argument for one decoded argument; raises UnsupportedFetch."""
    from .args.consumers import register_pair

    location = decoded.location
    fetch = _fetch(location, machine, site)
    pair = register_pair(decoded, machine, bits)
    if pair is not None:
        raise UnsupportedFetch(pair)
    if decoded.size not in (1, 2, 4, 8):
        raise UnsupportedFetch(f"size {decoded.size} has no kernel type")
    bits = decoded.size * 8
    if decoded.is_float:
        return f"{fetch}:x{bits}"
    if isinstance(location, Register) and location.bit_offset:
        if decoded.size * 8 != location.width_bits:
            raise UnsupportedFetch("a partial register of another size")
        return f"{fetch}:b{location.width_bits}@{location.bit_offset}/64"
    return f"{fetch}:{'s' if decoded.signed else 'u'}{bits}"


def _register(register: Register, machine: str) -> str:
    if not register.is_integer:
        kind = register.register_class
        raise UnsupportedFetch(f"{register.name}: the kernel cannot read {kind} registers")
    from .args.registry import kernel_registers

    name = (kernel_registers(machine) or {}).get(register.canonical)
    if name is None:
        raise UnsupportedFetch(f"{register.name} has no kernel register name on {machine}")
    return f"%{name}"


def _same_file(address: int, site: Site) -> str:
    """``@+OFFSET``: memory at a link-time address, as an offset in the probed file."""
    if site.address is None or site.file_offset is None:
        raise UnsupportedFetch("the site has no file offset to anchor @+OFFSET")
    offset = address - site.address + site.file_offset
    if offset < 0:
        raise UnsupportedFetch(f"address {address:#x} lies before the start of the file")
    return f"@+{offset:#x}"


def _fetch(location: Location, machine: str, site: Site) -> str:
    if isinstance(location, Unparsed):
        raise UnsupportedFetch(f"operand not understood: {location.reason}")
    if isinstance(location, Constant):
        if isinstance(location.value, float):
            raise UnsupportedFetch("the kernel has no float immediates")
        return f"\\{location.value}"
    if isinstance(location, Register):
        return _register(location, machine)
    if isinstance(location, Symbol):
        if location.address is None:
            raise UnsupportedFetch(f"symbol {location.name} is not in the symbol table")
        return _same_file(location.address, site)
    if location.index is not None:
        raise UnsupportedFetch("the kernel cannot add an index register")
    if location.symbol is not None:
        if (
            location.symbol.relocation in _STATIC_RELOCATIONS
            and location.symbol.address is not None
        ):
            return _same_file(location.symbol.address + location.displacement, site)
        raise UnsupportedFetch(f"symbolic displacement {location.symbol.name} cannot be resolved")
    if location.base is None:
        return _same_file(location.displacement, site)
    if location.base.canonical in ("rip", "eip"):
        raise UnsupportedFetch("the kernel's %ip is the probe address, not the next instruction's")
    sign = "-" if location.displacement < 0 else "+"
    return f"{sign}{abs(location.displacement)}({_register(location.base, machine)})"


def event_head(site: Site, machine: str, path: str, event: str) -> str | UprobeEvent:
    """``p:GROUP/EVENT PATH:0xOFFSET(0xREFCTR)``, or the event saying why there is none."""
    if site.file_offset is None:
        return UprobeEvent(None, reason="the site has no file offset")
    from .args.registry import kernel_registers

    if kernel_registers(machine) is None:
        return UprobeEvent(None, reason=f"no kernel register names known for {machine}")
    head = f"p:{event_name(site.provider)}/{event_name(event)} {path}:{site.file_offset:#x}"
    if site.semaphore_file_offset is not None:
        head += f"({site.semaphore_file_offset:#x})"
    return head


def fetch_or_reason(
    decoded: DecodedArgument, machine: str, site: Site, bits: int
) -> tuple[str | None, str | None]:
    """``(FETCHARG, None)``, or ``(None, why the kernel cannot read the argument)``."""
    try:
        return fetch_argument(decoded, machine, site, bits), None
    except UnsupportedFetch as exc:
        return None, str(exc)


def assemble(head: str, fetches: Sequence[Sequence[str | None]]) -> UprobeEvent:
    """The line from its head and each argument's ``(FETCHARG, why not)``, numbered."""
    parts, unsupported = [head], []
    for number, (fetch, why) in enumerate(fetches, 1):
        if fetch is not None:
            parts.append(f"arg{number}={fetch}")
        else:
            unsupported.append(f"arg{number}: {why}")
    return UprobeEvent(" ".join(parts), tuple(unsupported))


def uprobe_event(
    site: Site,
    decoded: Sequence[DecodedArgument],
    machine: str,
    path: str,
    event: str | None = None,
    bits: int = 64,
) -> UprobeEvent:
    """The ``uprobe_events`` line for one site; ``event`` overrides the event name."""
    head = event_head(site, machine, path, event or site.name)
    if isinstance(head, UprobeEvent):
        return head
    return assemble(head, [fetch_or_reason(d, machine, site, bits) for d in decoded])
