"""The notifier's two transports side by side: Redis pub/sub against PostgreSQL LISTEN/NOTIFY.

    python -m benchmarks.notifier           # 3,000 notices each, 4 publishing threads
    python -m benchmarks.notifier --tiny    # 60 notices each (the suite runs it)

For each: what one publish costs the request thread that sends it (a route publishes after its
commit), and how long a notice takes to reach a listening backend's board (publish → bump, the
listener in its own event loop, as in a backend process). The reference measured in the same run
is PostgreSQL; the ratio is Redis against it. Writes benchmarks/results/notifier.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backend.core import events, notifier
from benchmarks.common import PG_ADMIN_URL, machine

RESULTS = Path(__file__).parent / "results"


class TimedBoard(events.Board):
    """A board that notes when each notice arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, float] = {}

    def bump(self, topics: Any, everything: bool = False) -> None:
        now = time.perf_counter()
        for topic in topics:
            self.arrived[topic] = now
        super().bump(topics, everything)


def measure(notices: notifier.Notifier, count: int, threads: int) -> dict[str, Any]:
    board = TimedBoard()
    loop = asyncio.new_event_loop()
    listening = loop.create_task(notices.listen(board, own=True))
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    deadline = time.monotonic() + 30
    while not notices.connected or notices.received == 0:  # listening: a first notice has come back
        notices.publish(["warm-up"])
        time.sleep(0.05)
        if time.monotonic() > deadline:
            raise SystemExit(f"{notices.kind}: the listener never heard a notice")
    sent: dict[str, float] = {}
    costs: list[float] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        topic = f"run:{i}"
        t0 = time.perf_counter()
        notices.publish([topic, events.RUNS])
        t1 = time.perf_counter()
        with lock:
            sent[topic], _ = t0, costs.append(t1 - t0)
        time.sleep(0.001)  # a lab's notices come spread out, not in one burst

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(count)))
    wall = time.perf_counter() - started
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(t not in board.arrived for t in sent):
        time.sleep(0.01)
    lost = [t for t in sent if t not in board.arrived]
    latencies = sorted(board.arrived[t] - sent[t] for t in sent if t in board.arrived)
    async def stop() -> None:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)  # the listener closes its connection

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    runner.join(5)

    def pct(values: list[float], q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1e3, 3) if values else float("nan")

    ordered = sorted(costs)
    return {"notices": count, "threads": threads, "lost": len(lost), "notices_per_s": round(count / wall),
            "publish_ms": {"p50": round(statistics.median(ordered) * 1e3, 3), "p95": pct(ordered, 0.95),
                           "p99": pct(ordered, 0.99)},
            "delivery_ms": {"p50": pct(latencies, 0.5), "p95": pct(latencies, 0.95), "p99": pct(latencies, 0.99)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    count = 60 if args.tiny else 3000
    results = {
        "postgres": measure(notifier.PostgresNotifier(PG_ADMIN_URL), count, 4),
        "redis": measure(notifier.RedisNotifier("redis://127.0.0.1:6379/0", "cnnlab:bench-notifier:events"), count, 4),
    }
    pg, rd = results["postgres"], results["redis"]
    ratios = {f"redis_vs_postgres_{what}_p50": round(rd[what]["p50"] / pg[what]["p50"], 2)
              for what in ("publish_ms", "delivery_ms")}
    report = {"machine": machine(), "tiny": args.tiny, "results": results, **ratios}
    out = args.out or RESULTS / ("notifier-tiny.json" if args.tiny else "notifier.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    for kind, r in results.items():
        print(f"{kind:9} publish p50 {r['publish_ms']['p50']:.3f} ms p95 {r['publish_ms']['p95']:.3f} ms | "
              f"delivery p50 {r['delivery_ms']['p50']:.3f} ms p95 {r['delivery_ms']['p95']:.3f} ms | "
              f"{r['notices_per_s']} notices/s, lost {r['lost']}")
    print(", ".join(f"{k} {v}x" for k, v in ratios.items()))
    print(f"written to {out}")
    return 1 if pg["lost"] or rd["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
