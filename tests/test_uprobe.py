"""usdtscan.uprobe: the ``uprobe_events`` line of a site, on operands from real binaries."""

from __future__ import annotations

from dataclasses import replace

import pytest

import usdtscan
from usdtscan.args.decode import decode
from usdtscan.args.tokenize import tokenize
from usdtscan.model import Site
from usdtscan.uprobe import event_name, site_event_name, uprobe_event

from .arch_cases import HandSymbols
from .conftest import FIXTURE_BIN


def _site(args: str, file_offset: int = 0x1040, semaphore: int | None = None) -> Site:
    return Site(
        provider="my-prov",
        name="ev",
        args_raw=args,
        args=tokenize(args),
        address=0x401040,
        file_offset=file_offset,
        semaphore_address=None,
        semaphore_file_offset=semaphore,
        function=None,
    )


def test_uprobe_line_x86_64() -> None:
    site = _site("-4@-20(%rbp) 8@%rdx 4@$5 1@%ah 8f@%xmm0", semaphore=0x3010)
    decoded = decode(site.args, "x86_64", 64)
    event = uprobe_event(site, decoded, "x86_64", "/bin/app")
    assert event.line == (
        "p:my_prov/ev /bin/app:0x1040(0x3010) arg1=-20(%bp):s32 arg2=%dx:u64 "
        "arg3=\\5:u32 arg4=%ax:b8@8/64"
    )
    assert event.unsupported == ("arg5: xmm0: the kernel cannot read vector registers",)


@pytest.mark.parametrize(
    ("text", "name"),
    [("gc__start", "gc__start"), ("my-prov", "my_prov"), ("1st", "_1st"), ("", "_")],
)
def test_event_names_are_kernel_identifiers(text: str, name: str) -> None:
    assert event_name(text) == name


def test_repeated_sites_are_numbered_as_perf_does() -> None:
    assert [site_event_name("event", n) for n in range(3)] == ["event", "event_1", "event_2"]


def test_a_site_without_file_offset_has_no_line() -> None:
    site = replace(_site("8@%rdx"), file_offset=None)
    event = uprobe_event(site, decode(site.args, "x86_64", 64), "x86_64", "/x")
    assert event.line is None and event.reason == "the site has no file offset"


def test_every_fixture_site_has_a_line_or_a_reason() -> None:
    """Each analyzed x86-64 -O2 site: the head names the probe's file offset, and
    every argument is either fetched or named as unsupported."""
    report = usdtscan.analyze(FIXTURE_BIN / "x86_64" / "probes-O2")
    for site in report.sites:
        event = site.uprobe
        assert event is not None and event.line is not None
        where = f":{site.site.file_offset:#x}"
        if site.site.semaphore_file_offset is not None:
            where += f"({site.site.semaphore_file_offset:#x})"
        assert event.line.split()[1].endswith(where)
        fetched = sum(part.startswith("arg") for part in event.line.split()[2:])
        assert fetched + len(event.unsupported) == len(site.site.args), site.site.name


def test_uprobe_symbol_uses_same_file_offset() -> None:
    site = replace(_site("8@32+mp_(%rip) 8@(%rax,%rbx,8)"), address=0x201040)
    decoded = decode(site.args, "x86_64", 64, symbols=HandSymbols())
    event = uprobe_event(site, decoded, "x86_64", "/x")
    # mp_+32 = 0x21a020; the site at 0x201040 is at file offset 0x1040.
    assert event.line == "p:my_prov/ev /x:0x1040 arg1=@+0x1a020:u64"
    assert event.unsupported == ("arg2: the kernel cannot add an index register",)


def test_uprobe_line_leaves_out_a_register_pair() -> None:
    """i386 -O2 passes an int64 in edx:eax but the note names eax alone."""
    from usdtscan.args.analysis import analyze_site
    from usdtscan.scan import scan
    from usdtscan.uprobe import uprobe_event

    from .conftest import FIXTURE_BIN

    scanned = scan(FIXTURE_BIN / "i386" / "probes-O2")
    (site,) = [s for s in scanned.sites if s.name == "loop"]
    assert site.args_raw.split()[2] == "-8@%eax"
    analysis = analyze_site(site, scanned)
    assert analysis is not None
    event = uprobe_event(site, analysis.arguments, "i386", "/x", bits=32)
    assert event.line is not None and "arg3" not in event.line
    assert event.unsupported == (
        "arg3: 8-byte value in a register pair, of which the operand names only eax: "
        "the tool reads eax alone, one half of the value",
    )
    # The same spelling on x86-64 names the low half of rax, which the kernel reads.
    wide = uprobe_event(site, analysis.arguments, "i386", "/x", bits=64)
    assert wide.unsupported == ()
