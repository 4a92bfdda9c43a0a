#include "coordinator/web/fleet_page.hpp"

namespace mesh::web {

namespace {

constexpr const char* kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'none'">
<title>mesh fleet</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}.online{color:#176c1f}.offline{color:#999}.expired{color:#b00}
td.k-lan{background:#cdeccd}td.k-nat-direct{background:#dfe9fb}td.k-relay{background:#fbeed0}
td.k-none{background:#f8d0d0}td.k-probing{background:#eee}td.k-self{background:#fff;color:#bbb}
#status{color:#666;font-size:.9em}
</style></head><body>
<h1>mesh fleet</h1>
<div id="status">loading…</div>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>hostname</th><th>state</th><th>addresses</th><th>NAT</th>
<th>reflexive</th><th>key expires</th><th>container subnets</th><th>replica</th></tr></thead>
<tbody></tbody></table>
<h2>Paths (row: the node reporting, column: its peer)</h2>
<table id="matrix"><thead></thead><tbody></tbody></table>
<script>
"use strict";
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function state(n) { return n.expired ? "expired" : (n.connected ? "online" : "offline"); }
function when(t) { return t ? new Date(t * 1000).toISOString().replace(".000", "") : "never"; }
function render(fleet) {
  const nodes = fleet.nodes.filter(n => !n.expired).concat(fleet.nodes.filter(n => n.expired));
  const body = document.querySelector("#nodes tbody");
  const rows = [];
  for (const n of nodes) {
    const tr = el("tr");
    tr.dataset.nodeId = n.node_id;
    tr.appendChild(el("td", n.hostname, "hostname"));
    tr.appendChild(el("td", state(n), state(n)));
    tr.appendChild(el("td", n.addresses.join(" ")));
    tr.appendChild(el("td", n.nat));
    tr.appendChild(el("td", n.reflexive || "-"));
    tr.appendChild(el("td", when(n.key_expires_at)));
    tr.appendChild(el("td", n.container_subnets.join(" ") || "-"));
    tr.appendChild(el("td", n.replica || "-"));
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  const live = nodes.filter(n => !n.expired);
  const head = el("tr");
  head.appendChild(el("th", ""));
  for (const n of live) head.appendChild(el("th", n.hostname));
  document.querySelector("#matrix thead").replaceChildren(head);
  const mrows = [];
  for (const a of live) {
    const tr = el("tr");
    tr.dataset.nodeId = a.node_id;
    tr.appendChild(el("th", a.hostname));
    const paths = new Map(a.paths.map(p => [p.node_id, p]));
    for (const b of live) {
      let td;
      if (a.node_id === b.node_id) {
        td = el("td", "—", "k-self");
      } else {
        const p = paths.get(b.node_id);
        const kind = p ? p.path : "probing";
        const label = kind === "nat-direct" ? "direct" : kind === "relay" ? "relayed" : kind;
        td = el("td", p && p.rtt_us ? label + " " + (p.rtt_us / 1000).toFixed(2) + " ms" : label,
                "k-" + kind);
        td.dataset.kind = kind;
        td.dataset.peer = b.node_id;
        td.title = p && p.endpoint ? p.endpoint : "";
      }
      tr.appendChild(td);
    }
    mrows.push(tr);
  }
  document.querySelector("#matrix tbody").replaceChildren(...mrows);
  document.getElementById("status").textContent =
    live.length + " nodes, map version " + fleet.version + ", updated " + new Date().toISOString();
}
async function poll() {
  try {
    const r = await fetch("api/fleet", {cache: "no-store", credentials: "same-origin"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (e) {
    document.getElementById("status").textContent = "cannot reach the coordinator: " + e.message;
  }
  setTimeout(poll, 1000);
}
poll();
</script></body></html>
)HTML";

}  // namespace

const char* fleet_page_html() {
    return kPage;
}

}  // namespace mesh::web
