"""`python -m bench [name ...]`: run every bench/bench_*.py module (or only the named ones) and print
its figures. Django is set up first (dev settings unless DJANGO_SETTINGS_MODULE says otherwise), so a
benchmark may use the ORM against the configured database (DATABASE_URL)."""
import importlib
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings.dev")
    import django

    django.setup()

    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = {a if a.startswith("bench_") else f"bench_{a}" for a in argv}
    unknown = wanted - set(names)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(names)}", file=sys.stderr)
        return 2
    print(f"revops benchmarks: Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Django {django.get_version()}")
    for name in names:
        if wanted and name not in wanted:
            continue
        module = importlib.import_module(f"bench.{name}")
        print(f"\n== {name[len('bench_'):]}")
        started = time.perf_counter()
        module.run()
        print(f"   ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
