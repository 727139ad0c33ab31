#!/usr/bin/env python3
"""An independent reference client for the llama-server test: Python's standard library only,
nothing shared with rightsize. Keeps CONCURRENCY streamed chat completions in flight (threads,
closed loop) and prints one JSON object with the p50 TTFT and ITL it measured.

TTFT = first chunk with content - request start; ITL = (last content chunk - first content
chunk) / (usage.completion_tokens - 1). Each thread's first request is a warm-up, not counted.

Usage: llm_reference_client.py URL CONCURRENCY REQUESTS_PER_THREAD BODY_JSON
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def one(url, body):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    start = time.perf_counter()
    conn.request("POST", u.path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
    first = last = None
    tokens = None
    chunks = 0
    while True:
        line = resp.fp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        now = time.perf_counter()
        obj = json.loads(data)
        for c in obj.get("choices") or []:
            text = (c.get("delta") or {}).get("content") or c.get("text")
            if text:
                chunks += 1
                if first is None:
                    first = now
                last = now
                break
        if obj.get("usage"):
            tokens = obj["usage"].get("completion_tokens")
    conn.close()
    if first is None:
        raise RuntimeError("the stream carried no content")
    n = tokens or chunks
    ttft = (first - start) * 1000.0
    itl = (last - first) * 1000.0 / (n - 1) if n > 1 else None
    return ttft, itl, n


def main():
    url, concurrency, per_thread, body = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    request = json.loads(body)
    request["stream"] = True
    request["stream_options"] = {"include_usage": True}
    body = json.dumps(request)
    results, errors = [], []
    lock = threading.Lock()

    def worker():
        for i in range(per_thread + 1):
            try:
                r = one(url, body)
            except Exception as e:  # reported, never hidden
                with lock:
                    errors.append(str(e))
                continue
            if i > 0:
                with lock:
                    results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ttfts = [r[0] for r in results]
    itls = [r[1] for r in results if r[1] is not None]
    def p99(xs):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(0.99 * len(xs)))] if xs else None

    print(json.dumps({
        "concurrency": concurrency,
        "requests": len(results),
        "errors": errors,
        "ttft_p50_ms": statistics.median(ttfts) if ttfts else None,
        "itl_p50_ms": statistics.median(itls) if itls else None,
        "ttft_p99_ms": p99(ttfts),
        "itl_p99_ms": p99(itls),
        "e2e_tokens_p50": statistics.median([r[2] for r in results]) if results else None,
    }))


if __name__ == "__main__":
    main()
