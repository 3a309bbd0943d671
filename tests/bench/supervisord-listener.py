#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The supervisord event listener of the bench's microvm.nix variant.

It behaves as microvm.nix's listener (nixos-modules/microvm/virtiofsd/
supervisord-event-handler.py at 71beea0) does: it counts
PROCESS_STATE_RUNNING events up and PROCESS_STATE_STOPPING events down;
after each event it runs `systemd-notify --ready` while the count is at
least argv[1] (the number of shares + 1: the listener's own RUNNING counts
too); then it answers supervisord with RESULT 2 OK. (microvm.nix no longer
sends --stopping: its commit e4c5af2 removed it.)
"""
import subprocess
import sys


def send(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def main():
    shares = int(sys.argv[1])
    running = 0
    while True:
        send("READY\n")
        header = dict(token.split(":", 1) for token in sys.stdin.readline().split())
        sys.stdin.read(int(header["len"]))
        event = header["eventname"]
        if event == "PROCESS_STATE_RUNNING":
            running += 1
        elif event == "PROCESS_STATE_STOPPING":
            running -= 1
        if running >= shares:
            subprocess.run(["systemd-notify", "--ready"], check=False)
        send("RESULT 2\nOK")


if __name__ == "__main__":
    main()
