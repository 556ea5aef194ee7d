"""`python -m client`: see `client.cli`."""

import os
import sys

from client.cli import main

try:
    code = main()
    sys.stdout.flush()
except BrokenPipeError:
    # The reader went away (`... | head`): not an error worth a traceback. Point stdout at devnull so the
    # interpreter's own flush at exit does not raise again.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    code = 0
raise SystemExit(code)
