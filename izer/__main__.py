"""``python -m izer`` runs the command line."""

from izer.cli.main import run

if __name__ == "__main__":
    run()
