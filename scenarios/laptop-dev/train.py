#!/usr/bin/env python3
"""Data-parallel logistic regression with a real TCP all-reduce (torch.distributed env contract).

Env: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; optional RENDEZVOUS_TIMEOUT (s, default 60) and
SOCKET_TIMEOUT (s, default 120). Rank 0 is the hub: it listens on MASTER_PORT, sums every rank's
gradient each epoch and sends the global average back. Framing: 4-byte big-endian length + JSON.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import socket
import struct
import sys
import time


class TrainError(Exception):
    pass


def load_csv(path: str) -> tuple[list[list[float]], list[int]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [[float(v) for v in r[:-1]] for r in rows], [int(r[-1]) for r in rows]


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    return math.exp(z) / (1.0 + math.exp(z))


def local_stats(xs: list[list[float]], ys: list[int], w: list[float], b: float) -> list[float]:
    """[grad_w sums..., grad_b sum, loss sum, row count] over this rank's shard."""
    gw, gb, loss = [0.0] * len(w), 0.0, 0.0
    for x, y in zip(xs, ys):
        p = sigmoid(sum(wi * xi for wi, xi in zip(w, x)) + b)
        for j, xj in enumerate(x):
            gw[j] += (p - y) * xj
        gb += p - y
        loss -= math.log(max(p if y == 1 else 1.0 - p, 1e-12))
    return gw + [gb, loss, float(len(ys))]


def send_msg(sock: socket.socket, obj: dict) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock: socket.socket) -> dict:
    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise TrainError("peer closed the connection")
            buf += chunk
        return buf
    return json.loads(exact(struct.unpack(">I", exact(4))[0]))


def rendezvous(rank: int, world: int, addr: str, port: int, rdv_timeout: float, op_timeout: float):
    """Rank 0 returns {rank: socket} for every peer; other ranks return their socket to rank 0."""
    deadline = time.monotonic() + rdv_timeout
    if rank == 0:
        peers: dict[int, socket.socket] = {}
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("0.0.0.0", port))  # MASTER_ADDR may be a k8s Service name, not a local IP
            srv.listen(world)
            while len(peers) < world - 1:
                srv.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    conn, _ = srv.accept()
                except socket.timeout:
                    raise TrainError(f"rendezvous timed out after {rdv_timeout:g}s: "
                                     f"{len(peers) + 1}/{world} ranks joined") from None
                conn.settimeout(op_timeout)
                hello = recv_msg(conn)
                r = hello.get("rank")
                if hello.get("world_size") != world or not isinstance(r, int) or not 0 < r < world or r in peers:
                    raise TrainError(f"bad hello from peer: {hello}")
                peers[r] = conn
        for conn in peers.values():
            send_msg(conn, {"ok": True})
        return peers
    while True:
        try:
            hub = socket.create_connection((addr, port), timeout=min(5.0, op_timeout))
            break
        except OSError as e:
            if time.monotonic() >= deadline:
                raise TrainError(f"rendezvous timed out after {rdv_timeout:g}s: "
                                 f"cannot reach rank 0 at {addr}:{port} ({e})") from None
            time.sleep(0.5)
    hub.settimeout(op_timeout)
    send_msg(hub, {"rank": rank, "world_size": world})
    if not recv_msg(hub).get("ok"):
        raise TrainError("rank 0 rejected the handshake")
    return hub


def allreduce_sum(rank: int, world: int, conns, step: int, vec: list[float], params: list[float]) -> list[float]:
    """Sum vec over all ranks. Rank 0 checks each rank sent this step, with parameters equal to its own."""
    if rank != 0:
        send_msg(conns, {"step": step, "rank": rank, "vec": vec, "params": params})
        reply = recv_msg(conns)
        if reply.get("step") != step:
            raise TrainError(f"step mismatch: expected {step}, rank 0 sent {reply.get('step')}")
        return reply["vec"]
    total, seen = list(vec), {0}
    for r, conn in sorted(conns.items()):
        msg = recv_msg(conn)
        if msg.get("step") != step or msg.get("rank") != r or len(msg.get("vec", [])) != len(vec):
            raise TrainError(f"bad contribution at step {step} from rank {r}: step={msg.get('step')}")
        if msg.get("params") != params:
            raise TrainError(f"rank {r} diverged from rank 0 at step {step}")
        total = [a + b for a, b in zip(total, msg["vec"])]
        seen.add(r)
    if seen != set(range(world)):
        raise TrainError(f"step {step}: contributions from ranks {sorted(seen)} only")
    for conn in conns.values():
        send_msg(conn, {"step": step, "vec": total})
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description="distributed logistic regression")
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--data", required=True, help="directory with train.csv")
    ap.add_argument("--out", required=True, help="output directory (rank 0 writes model.json)")
    args = ap.parse_args()
    try:
        rank, world = int(os.environ.get("RANK") or 0), int(os.environ.get("WORLD_SIZE") or 1)
        if world < 1 or not 0 <= rank < world or args.epochs < 1:
            raise TrainError(f"invalid RANK={rank} WORLD_SIZE={world} epochs={args.epochs}")
        xs, ys = load_csv(os.path.join(args.data, "train.csv"))
        xs, ys = xs[rank::world], ys[rank::world]  # rows i with i % WORLD_SIZE == RANK
        conns = None
        if world > 1:
            if not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
                raise TrainError("WORLD_SIZE > 1 needs MASTER_ADDR and MASTER_PORT")
            conns = rendezvous(rank, world, os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                               float(os.environ.get("RENDEZVOUS_TIMEOUT") or 60),
                               float(os.environ.get("SOCKET_TIMEOUT") or 120))
        dim = len(xs[0]) if xs else 8
        w, b, tag = [0.0] * dim, 0.0, f"rank {rank}/{world}"

        def global_mean(step: int) -> tuple[list[float], float, float]:
            s = local_stats(xs, ys, w, b)
            if conns is not None:
                s = allreduce_sum(rank, world, conns, step, s, w + [b])
            if s[-1] <= 0:
                raise TrainError("no training rows across all ranks")
            return [g / s[-1] for g in s[:dim]], s[dim] / s[-1], s[dim + 1] / s[-1]

        for epoch in range(1, args.epochs + 1):
            gw, gb, loss = global_mean(epoch)
            w, b = [wi - args.lr * gi for wi, gi in zip(w, gw)], b - args.lr * gb
            if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
                print(f"{tag} epoch {epoch} loss {loss:.4f}", flush=True)
        final_loss = global_mean(args.epochs + 1)[2]  # loss of the final weights (also a last sync)
        for s in (conns.values() if isinstance(conns, dict) else [conns] if conns else []):
            s.close()
        if rank == 0:
            os.makedirs(args.out, exist_ok=True)
            with open(os.path.join(args.out, "model.json"), "w", encoding="utf-8") as f:
                json.dump({"lr": args.lr, "weights": w, "bias": b, "train_loss": final_loss,
                           "world_size": world, "epochs": args.epochs}, f, indent=2)
        print(f"{tag} final loss {final_loss:.4f}", flush=True)
        print(f"{tag} done", flush=True)
        return 0
    except TimeoutError:
        print(f"train.py rank {os.environ.get('RANK', '0')}: error: a peer did not respond within "
              f"SOCKET_TIMEOUT={os.environ.get('SOCKET_TIMEOUT') or 120}s", file=sys.stderr, flush=True)
        return 1
    except (TrainError, OSError, ValueError, KeyError, IndexError) as e:
        print(f"train.py rank {os.environ.get('RANK', '0')}: error: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
