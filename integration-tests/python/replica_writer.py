"""A steady pydgraph write load on a replicated group, as an application would run it: one
pydgraph client over a stub of every alpha (pydgraph picks one per transaction), each write a
new node with a unique xid committed at once, retried on the next stub after an error.

Usage: replica_writer.py THREADS ALPHA [ALPHA ...]
Prints one line per attempt and flushes it:
  ack <xid> <uid> <start> <end>   an acknowledged commit (wall-clock seconds)
  err <xid> <start> <end> <kind>  a failed one (not acknowledged; it may or may not have landed)
Stops when standard input is closed.
"""

import sys
import threading
import time

import grpc
import pydgraph

lock = threading.Lock()
stop = threading.Event()


def say(line: str) -> None:
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def writer(n: int, client: pydgraph.DgraphClient) -> None:
    seq = 0
    while not stop.is_set():
        xid = f"w{n}-{seq}"
        seq += 1
        start = time.time()
        try:
            txn = client.txn()
            resp = txn.mutate(set_nquads=f'_:n <xid> "{xid}" .', commit_now=True, timeout=10)
            say(f"ack {xid} {resp.uids['n']} {start:.6f} {time.time():.6f}")
        except Exception as e:  # noqa: BLE001 - any failure is reported and retried
            kind = type(e).__name__
            if isinstance(e, grpc.RpcError):
                kind = str(e.code())
            say(f"err {xid} {start:.6f} {time.time():.6f} {kind}")
            time.sleep(0.02)


def main() -> None:
    threads = int(sys.argv[1])
    stubs = [
        pydgraph.DgraphClientStub(addr, options=[("grpc.enable_retries", 0)])
        for addr in sys.argv[2:]
    ]
    client = pydgraph.DgraphClient(*stubs)
    workers = [
        threading.Thread(target=writer, args=(n, client), daemon=True) for n in range(threads)
    ]
    for w in workers:
        w.start()
    sys.stdin.read()
    stop.set()
    for w in workers:
        w.join(timeout=30)


if __name__ == "__main__":
    main()
