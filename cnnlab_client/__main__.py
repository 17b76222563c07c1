"""`python -m cnnlab_client COMMAND ...`: see cnnlab_client's docstring, or `python -m cnnlab_client --help`."""

import sys

from cnnlab_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
