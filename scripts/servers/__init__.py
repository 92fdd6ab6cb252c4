"""Private servers on loopback for tests, benchmarks and demos (never the machine's own)."""
