"""Print where `make install` puts the binding for PREFIX (argv[1]).

Debian's python3 looks in /usr/local/lib/python3.X/dist-packages (its
posix_local scheme), not in the upstream .../site-packages, for
PREFIX=/usr/local; any other PREFIX gets the upstream layout.
"""
import sys
import sysconfig

prefix = sys.argv[1].rstrip("/") or "/"
if prefix == "/usr/local" and "posix_local" in sysconfig.get_scheme_names():
    print(sysconfig.get_path("purelib", "posix_local", {"base": "/usr"}))
else:
    print(sysconfig.get_path("purelib", "posix_prefix", {"base": prefix}))
