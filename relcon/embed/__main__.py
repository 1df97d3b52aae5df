"""``python -m relcon.embed``: see ``relcon/embed/cli.py``."""
import sys

from relcon.embed.cli import main

if __name__ == "__main__":
    sys.exit(main())
