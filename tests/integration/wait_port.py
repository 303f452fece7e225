#!/usr/bin/python3
"""wait_port.py HOST PORT TIMEOUT_S: exit 0 as soon as HOST:PORT accepts a TCP
connection, 1 if it does not within TIMEOUT_S seconds, 2 on bad arguments."""
import socket
import sys
import time


def wait_port(host, port, timeout_s):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def main(argv):
    if len(argv) != 4:
        print("usage: wait_port.py HOST PORT TIMEOUT_S", file=sys.stderr)
        return 2
    try:
        port, timeout_s = int(argv[2]), float(argv[3])
    except ValueError:
        print("wait_port.py: PORT must be an integer and TIMEOUT_S a number", file=sys.stderr)
        return 2
    if wait_port(argv[1], port, timeout_s):
        return 0
    print(f"wait_port.py: {argv[1]}:{port} not accepting after {timeout_s} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
