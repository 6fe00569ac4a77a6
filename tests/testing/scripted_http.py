#!/usr/bin/env python3
"""A loopback HTTP server that answers from a script, for testing clients'
retries: each argument is STATUS:BODY, answered to one request in order (the
last one again after that). Prints "PID PORT", then serves until killed.

  scripted_http.py '429:{"__type":"ThrottlingException"}' '200:{"nodegroups":[]}'
"""
import http.server
import os
import sys

answers = [a.split(":", 1) for a in sys.argv[1:]] or [["200", "{}"]]
served = []


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, body = answers[min(len(served), len(answers) - 1)]
        served.append(self.path)
        data = body.encode()
        self.send_response(int(status))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(os.getpid(), server.server_address[1], flush=True)
server.serve_forever()
