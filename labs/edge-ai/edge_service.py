#!/usr/bin/env python3
"""Workload of the edge-ai lab: a model-feed server and an inference service.

``feed`` serves the current feed version at ``GET /feed``.
``infer`` polls the feed and serves ``GET /health`` (liveness: always 200 while the
process runs) and ``GET /infer`` (an answer built from the last feed it received,
with ``feed_age_s``, the seconds since that feed arrived). When the feed path is
cut, ``/health`` stays green while ``feed_age_s`` grows: the silent failure drills
measure. Standard library only, so it runs on any python3 in the lab.
"""

import argparse
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(listen, routes):
    host, port = listen.rsplit(":", 1)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            body = json.dumps(route()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


def run_feed(args):
    started = time.time()

    def feed():
        now = time.time()
        return {"version": int((now - started) * 10), "published": now}

    serve(args.listen, {"/feed": feed, "/health": lambda: {"status": "ok"}})


def run_infer(args):
    state = {"feed": None, "received": None}
    lock = threading.Lock()

    def poll():
        while True:
            try:
                with urllib.request.urlopen(args.feed, timeout=args.poll) as resp:
                    data = json.load(resp)
                with lock:
                    state["feed"], state["received"] = data, time.monotonic()
            except (OSError, ValueError):
                pass
            time.sleep(args.poll)

    def infer():
        with lock:
            received, feed = state["received"], state["feed"]
        age = None if received is None else round(time.monotonic() - received, 3)
        return {"site": args.site, "answer": "ok", "feed_version": feed and feed["version"], "feed_age_s": age}

    threading.Thread(target=poll, daemon=True).start()
    serve(args.listen, {"/infer": infer, "/health": lambda: {"status": "ok", "site": args.site}})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    feed = sub.add_parser("feed")
    feed.add_argument("--listen", required=True)
    infer = sub.add_parser("infer")
    infer.add_argument("--listen", required=True)
    infer.add_argument("--feed", required=True)
    infer.add_argument("--site", default="site")
    infer.add_argument("--poll", type=float, default=0.5, help="seconds between feed polls")
    args = parser.parse_args()
    (run_feed if args.mode == "feed" else run_infer)(args)


if __name__ == "__main__":
    main()
