"""``python -m mlx_fused_losses --cmake-dir``: where C++ apps find the CMake package.

Add the printed directory to ``CMAKE_PREFIX_PATH``; then
``find_package(MLXFusedLosses CONFIG REQUIRED)`` defines the target
``mlx_fused_losses::mlx_fused_losses`` (see docs/CPP.md).
"""

import argparse
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlx_fused_losses")
    parser.add_argument("--version", action="store_true", help="Print the version number.")
    parser.add_argument(
        "--cmake-dir",
        action="store_true",
        help="Print the directory to add to CMAKE_PREFIX_PATH for "
        "find_package(MLXFusedLosses) (it holds the library, include/ and share/cmake/).",
    )
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
    if args.cmake_dir:
        print(PACKAGE_DIR)
    if not (args.version or args.cmake_dir):
        parser.print_help()


if __name__ == "__main__":
    main()
