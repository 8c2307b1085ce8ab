"""Benchmarks and checks that return data; the CLI prints and writes them."""
