"""``python -m stravasync`` runs the command line."""

from stravasync.cli import main

if __name__ == "__main__":
    main()
