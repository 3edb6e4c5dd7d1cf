"""`python -m supervision.repl [--socket PATH]`: attach to a running node (see `client`)."""

from supervision.repl.client import main

if __name__ == "__main__":
    raise SystemExit(main())
