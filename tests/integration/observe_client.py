#!/usr/bin/python3
"""Real clients for the observability lab (tests/integration/observe_test.sh).

  metrics URL [USER:PASSWORD]   fetch /metrics, parse it with prometheus_client's own parser,
                                print one "name{k=v,...} value" line per sample (labels sorted)
  health HOST:PORT CERT         grpc.health.v1.Health/Check over TLS (pinned to CERT), print the
                                status name (SERVING, NOT_SERVING, ...)
  browser URL OUTDIR CMD...     load URL in headless Chromium, driven over the DevTools protocol;
                                wait for the page to list every node with a full path matrix,
                                print it, take a screenshot, run CMD (removes a node), wait for
                                that node to leave the DOM without a reload, screenshot again
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


def fetch(url, auth=None):
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


def cmd_metrics(url, auth=None):
    from prometheus_client.parser import text_string_to_metric_families
    for family in text_string_to_metric_families(fetch(url, auth)):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            value = f"{int(s.value)}" if s.value == int(s.value) else f"{s.value:g}"
            print(f"{s.name}{{{labels}}} {value}")


def cmd_health(target, cert):
    import grpc
    creds = grpc.ssl_channel_credentials(root_certificates=open(cert, "rb").read())
    channel = grpc.secure_channel(
        target, creds, options=[("grpc.ssl_target_name_override", "mesh-coordinator")])
    check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                request_serializer=lambda b: b,
                                response_deserializer=lambda b: b)
    reply = check(b"", timeout=10)  # HealthCheckRequest{service: ""}
    # HealthCheckResponse{status = 1 (varint)}; absent = UNKNOWN
    status = reply[1] if len(reply) >= 2 and reply[0] == 0x08 else 0
    print({0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}.get(status, "?"))


class DevTools:
    def __init__(self, ws_url):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=60)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r["result"].get("value")


# What the page shows: hostnames of the node rows, and the matrix as {row: {column: kind}}.
DOM_QUERY = """(() => {
  const hosts = [...document.querySelectorAll('#nodes tbody tr td.hostname')].map(e => e.textContent);
  const cols = [...document.querySelectorAll('#matrix thead th')].slice(1).map(e => e.textContent);
  const matrix = {};
  for (const tr of document.querySelectorAll('#matrix tbody tr')) {
    const row = tr.querySelector('th').textContent;
    matrix[row] = {};
    [...tr.querySelectorAll('td')].forEach((td, i) => { matrix[row][cols[i]] = td.dataset.kind || 'self'; });
  }
  return JSON.stringify({hosts, cols, matrix, marker: window.__meshTestMarker || 0});
})()"""


def wait(what, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout} s waiting for {what}")


def screenshot(tools, path):
    data = tools.call("Page.captureScreenshot", format="png")["data"]
    with open(path, "wb") as f:
        f.write(base64.b64decode(data))
    print(f"screenshot {path}")


def cmd_browser(url, outdir, removal):
    expected = json.loads(os.environ["OBSERVE_EXPECT"])  # {"hosts": [...], "matrix": {...}, "remove": "h3"}
    os.makedirs(outdir, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="observe-chromium-")
    browser = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1200,800",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        wait("chromium's DevTools port", lambda: os.path.exists(port_file) and
             len(open(port_file).read().split()) >= 2)
        port = open(port_file).read().split()[0]
        pages = json.loads(fetch(f"http://127.0.0.1:{port}/json/list"))
        page = next(p for p in pages if p["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        tools.call("Page.enable")
        tools.call("Page.navigate", url=url)

        def view():
            raw = tools.evaluate(DOM_QUERY)
            return json.loads(raw) if raw else None

        def complete():
            v = view()
            if not v or sorted(v["hosts"]) != sorted(expected["hosts"]):
                return None
            full = all(v["matrix"].get(a, {}).get(b) == expected["matrix"][a][b]
                       for a in expected["hosts"] for b in expected["hosts"])
            return v if full else None

        try:
            shown = wait("every host and the expected full path matrix", complete)
        finally:
            print("page shows:", json.dumps(view()))
        print("hosts:", " ".join(sorted(shown["hosts"])))
        for a in sorted(shown["matrix"]):
            print("matrix", a, " ".join(f"{b}={shown['matrix'][a][b]}" for b in sorted(shown["matrix"][a])))
        screenshot(tools, os.path.join(outdir, "fleet-3-hosts.png"))
        tools.evaluate("window.__meshTestMarker = 1")
        subprocess.run(removal, check=True, stdout=subprocess.DEVNULL)
        gone = expected["remove"]

        def removed():
            v = view()
            if v and gone not in v["hosts"] and gone not in v["cols"] and len(v["hosts"]) == len(expected["hosts"]) - 1:
                return v
            return None
        after = wait(f"{gone} to leave the page", removed)
        if after["marker"] != 1:
            raise SystemExit("the page reloaded (the marker set before the removal is gone)")
        print("after removal:", " ".join(sorted(after["hosts"])), "(no reload)")
        screenshot(tools, os.path.join(outdir, "fleet-after-removal.png"))
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=20)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "metrics":
        cmd_metrics(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif len(sys.argv) == 4 and sys.argv[1] == "health":
        cmd_health(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "browser":
        cmd_browser(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
