"""`python -m wskrecv`."""

from wskrecv.cli import main

if __name__ == "__main__":
    main()
