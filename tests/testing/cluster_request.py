"""One request to a served fake cluster, trusting its CA from the kubeconfig.

usage: cluster_request.py KUBECONFIG METHOD PATH [BODY] [--authorization VALUE]...

Sends the request with the kubeconfig's token, or once per --authorization
value instead ("" sends no Authorization header), and prints each answer's
HTTP status on a line of its own. Exits 1 when the only request sent with
the token is not answered 2xx, 2 when the server cannot be reached.
"""
import argparse
import base64
import re
import ssl
import sys
import urllib.error
import urllib.request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kubeconfig")
    ap.add_argument("method")
    ap.add_argument("path")
    ap.add_argument("body", nargs="?")
    ap.add_argument("--authorization", action="append")
    args = ap.parse_args()
    text = open(args.kubeconfig).read()
    server = re.search(r"server: (\S+)", text).group(1)
    ca = re.search(r"certificate-authority-data: (\S+)", text).group(1)
    token = re.search(r'token: "(\w+)"', text).group(1)
    context = ssl.create_default_context(cadata=base64.b64decode(ca).decode())
    status = 0
    for auth in args.authorization or ["Bearer " + token]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        request = urllib.request.Request(server + args.path, method=args.method,
                                         data=args.body.encode() if args.body else None,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, context=context) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except urllib.error.URLError as e:
            print(f"cannot reach {server}: {e.reason}", file=sys.stderr)
            return 2
        print(status)
    return 0 if args.authorization or 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
