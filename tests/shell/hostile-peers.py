#!/usr/bin/env python3
# hostile-peers.py: what a hostile local user does to gpushare-control's
# control socket, for test-hostile.sh.
#   idle SOCKET N HOLD     opens N connections and sends nothing; prints
#                          "connected", then after 1 s and after HOLD s how
#                          many are open, refused (a "C " line) or closed
#   flood SOCKET N SECONDS LINE
#                          opens N connections and sends LINE on each over and
#                          over for SECONDS without reading an answer; prints
#                          "flooded" and holds them until killed
import errno
import resource
import socket
import sys
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 64)), hard))


def connect_all(path, n):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
    return socks


def tally(socks):
    open_, refused, closed, lines = 0, 0, 0, set()
    for s in socks:
        try:
            got = s.recv(4096, socket.MSG_PEEK)
        except BlockingIOError:
            open_ += 1
            continue
        except OSError:
            closed += 1
            continue
        if got.startswith(b"C "):
            refused += 1
            lines.add(got.split(b"\n")[0].decode())
        elif got:
            open_ += 1
        else:
            closed += 1
    return "open=%d refused=%d closed=%d lines=%s" % (open_, refused, closed, sorted(lines))


def idle(path, n, hold):
    raise_nofile(n)
    socks = connect_all(path, n)
    print("connected %d" % len(socks), flush=True)
    time.sleep(1)
    print("after-connect " + tally(socks), flush=True)
    time.sleep(hold)
    print("after-hold " + tally(socks), flush=True)
    time.sleep(3600)


def flood(path, n, seconds, line):
    raise_nofile(n)
    socks = connect_all(path, n)
    data = (line + "\n").encode() * 64
    end = time.time() + seconds
    sent = 0
    while time.time() < end and socks:
        for s in list(socks):
            try:
                sent += s.send(data)
            except BlockingIOError:
                pass
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.ECONNRESET):
                    socks.remove(s)
    print("flooded %d bytes, %d connections left" % (sent, len(socks)), flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    if sys.argv[1] == "idle":
        idle(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        flood(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
