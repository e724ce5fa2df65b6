"""Give each argument to bcc's own ``trace`` probe parser, then enable the probe.

Run by tests/test_attach.py with the system Python that Debian's
python3-bpfcc is installed for.  ``trace``'s ``Probe`` parses the spec and
finds the probe in the file (its ``_parse_spec`` and ``_find_usdt_probe``);
``USDT.enable_probe`` and ``get_text`` then do what ``trace`` does before it
compiles: enable the probe and generate its argument readers.  Compiling and
loading need the running kernel's headers, which are not here.  Prints one
line per spec: ``OK SPEC`` or ``FAIL SPEC: reason``.  ``--pid PID`` traces
that process, as ``trace -p PID`` does.
"""

import importlib.machinery
import importlib.util
import sys

TRACE = "/usr/sbin/trace-bpfcc"


def main(argv: list[str]) -> None:
    loader = importlib.machinery.SourceFileLoader("bcc_trace", TRACE)
    spec = importlib.util.spec_from_loader("bcc_trace", loader)
    assert spec is not None
    trace = importlib.util.module_from_spec(spec)
    loader.exec_module(trace)
    if argv[:1] == ["--pid"]:
        trace.Probe.tgid = int(argv[1])
        argv = argv[2:]
    for text in argv:
        try:
            probe = trace.Probe(text, 80, False, False, None, None, None)
            probe.usdt.enable_probe(probe.usdt_name, probe.probe_name)
            probe.usdt.get_text()
        except Exception as exc:  # report whatever bcc raised
            print(f"FAIL {text}: {' '.join(str(exc).split())}", flush=True)
        else:
            print(f"OK {text}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
