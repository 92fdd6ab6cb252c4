"""Import of the real catalog (4,765 plannings) into PostgreSQL: first import and unchanged re-import.

python -m bench.import_catalog
"""

from __future__ import annotations

import time
from io import StringIO

from bench.common import ROOT, private_postgres_django


def main() -> None:
    with private_postgres_django():
        from django.core.management import call_command

        timings = []
        for label in ("first import", "unchanged re-import", "unchanged re-import"):
            out = StringIO()
            start = time.perf_counter()
            call_command("import_plannings", str(ROOT / "data" / "catalog"), verbosity=0, stdout=out)
            timings.append((label, time.perf_counter() - start, out.getvalue().strip()))
        for label, seconds, summary in timings:
            print(f"{label:22s} {seconds:6.2f} s   {summary}")


if __name__ == "__main__":
    main()
