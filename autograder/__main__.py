"""`python -m autograder <command>`: see autograder/pipeline/cli.py and docs/grading.md."""

import sys

from autograder.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
