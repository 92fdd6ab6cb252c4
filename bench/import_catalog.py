"""Import of the real catalog (4,765 plannings) into PostgreSQL: first import and unchanged re-import.

python -m bench.import_catalog [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from io import StringIO

from bench.common import ROOT, private_postgres_django
from bench.figures import measured, record, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="each round empties the table, imports, re-imports")
    args = parser.parse_args()
    with private_postgres_django():
        from django.core.management import call_command

        from plannings.models import Planning

        def import_seconds() -> float:
            start = time.perf_counter()
            call_command("import_plannings", str(ROOT / "data" / "catalog"), verbosity=0, stdout=StringIO())
            return time.perf_counter() - start

        firsts, agains = [], []
        for _ in range(args.rounds):
            Planning.objects.all().delete()
            firsts.append(import_seconds())
            agains.append(import_seconds())
        result = [
            measured(f"first import ({Planning.objects.count():,} plannings)", firsts, "s"),
            measured("unchanged re-import", agains, "s"),
        ]
        print(table(result))
        print(f"written to {record('import_catalog', result, settings=vars(args))}")


if __name__ == "__main__":
    main()
