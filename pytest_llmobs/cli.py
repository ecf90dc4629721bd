"""The `llmobs` command line, on the pure core (no pytest)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pytest_llmobs import __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmobs", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pytest-llmobs {__version__}")
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
