#!/usr/bin/env python3
# hostile-peers.py: what a hostile local user does to gpushare-control's
# control socket, for test-hostile.sh.
#   idle SOCKET N HOLD     opens N connections and sends nothing; prints
#                          "connected N", then after 1 s ("after-connect") and
#                          after HOLD more s ("after-hold") how many are still
#                          open, closed without a word, and how many got each
#                          "C <why>" line the daemon closes a connection with
#   flood SOCKET N SECONDS LINE
#                          opens N connections and sends LINE on each over and
#                          over for SECONDS without ever reading an answer;
#                          prints "flooded" with the bytes sent, how many
#                          connections the daemon took or refused (a "C "
#                          line) and how many of those it took it dropped
#                          since, and holds the rest until killed
import collections
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
    open_, closed, lines = 0, 0, collections.Counter()
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
            lines[got.split(b"\n")[0][2:].decode()] += 1
        elif got:
            open_ += 1
        else:
            closed += 1
    return "open=%d closed=%d %s" % (open_, closed, " ".join("[%s]=%d" % kv for kv in sorted(lines.items())))


def idle(path, n, hold):
    raise_nofile(n)
    socks = connect_all(path, n)
    print("connected %d" % len(socks), flush=True)
    time.sleep(1)
    print("after-connect " + tally(socks), flush=True)
    time.sleep(hold)
    print("after-hold " + tally(socks), flush=True)
    time.sleep(3600)


def refused(s):
    try:
        return s.recv(2, socket.MSG_PEEK) == b"C "
    except OSError:
        return False


def flood(path, n, seconds, line):
    raise_nofile(n)
    socks = connect_all(path, n)
    time.sleep(0.5)
    taken = [s for s in socks if not refused(s)]
    n_refused = len(socks) - len(taken)
    socks = list(taken)
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
                if e.errno not in (errno.EPIPE, errno.ECONNRESET):
                    raise
                socks.remove(s)
                s.close()
        time.sleep(0.001)
    print("flooded sent=%d taken=%d refused=%d dropped=%d" % (sent, len(taken), n_refused, len(taken) - len(socks)),
          flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    if sys.argv[1] == "idle":
        idle(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        flood(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
