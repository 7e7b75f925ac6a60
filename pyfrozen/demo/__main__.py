"""``python -m pyfrozen.demo [flags]``: the same as ``pyfrozen demo [flags]``.

Run it outside a checkout of pyfrozen (there the uninstalled sources would be imported).
"""

import sys

from pyfrozen.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
