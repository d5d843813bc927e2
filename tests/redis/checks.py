"""What the redis-py scripts here share (client_test.py, commands_test.py,
pubsub_test.py): the server's address from the command line, and checks
that stop the script at the first mismatch, naming it, and count the rest.
"""

import sys

HOST, PORT = sys.argv[1], int(sys.argv[2])
_passed = 0


def check(cond, what):
    global _passed
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    _passed += 1


def eq(got, want, what):
    check(got == want, f"{what}: got {got!r}, want {want!r}")


def done():
    """The last line a script prints; tests/redis/harness.rs looks for it."""
    print(f"{_passed} checks passed")
