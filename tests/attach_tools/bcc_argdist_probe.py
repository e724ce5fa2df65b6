"""Give each argument to bcc's own ``argdist`` probe parser, then enable the probe.

Run by tests/test_attach.py with the system Python that Debian's
python3-bpfcc is installed for, as bcc_trace_probe.py is for ``trace``.
``argdist``'s ``Probe`` checks the specifier (``u:LIBRARY:NAME(SIGNATURE)``
and what follows), finds the USDT probe in the file and enables it;
``get_text`` then generates its argument readers.  Compiling and loading
need the running kernel's headers, which are not here.  Prints one line per
spec: ``OK SPEC`` or ``FAIL SPEC: reason``.
"""

import importlib.machinery
import importlib.util
import sys
import types

ARGDIST = "/usr/sbin/argdist-bpfcc"


def main(argv: list[str]) -> None:
    loader = importlib.machinery.SourceFileLoader("bcc_argdist", ARGDIST)
    spec = importlib.util.spec_from_loader("bcc_argdist", loader)
    assert spec is not None
    argdist = importlib.util.module_from_spec(spec)
    loader.exec_module(argdist)
    # What argdist's Tool hands each Probe: its parsed -p, -t and -c options.
    tool = types.SimpleNamespace(args=types.SimpleNamespace(pid=None, tid=None, cumulative=False))
    for text in argv:
        try:
            probe = argdist.Probe(tool, "freq", text)
            probe.usdt_ctx.get_text()
        except Exception as exc:  # report whatever bcc raised
            print(f"FAIL {text}: {' '.join(str(exc).split())}", flush=True)
        else:
            print(f"OK {text}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
