/* adapters/http/src/dashboard.js - the dashboard's script (GET
 * /dashboard.js), compiled in with the page: a file of its own, so that the
 * page's Content-Security-Policy needs no 'unsafe-inline'. */
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const progress = new Map(); /* op id -> last progress event */
let ops = [], history = [], refreshing = false, again = false;
/* Aggregate mode (/api/ops says "aggregate": true): the ops of many
 * processes, each with its "node"; ids are unique only within a node. */
let aggregate = false;
function key(o, id) { return aggregate ? o.node + "\u0000" + id : id; }

function text(v) { return v === null || v === undefined ? "" : String(v); }
function secs(v) {
  if (typeof v !== "number" || !isFinite(v)) return "";
  return v < 60 ? v.toFixed(1) + " s" : Math.floor(v / 60) + " min " +
    Math.round(v % 60) + " s";
}
function cell(tr, value, cls) {
  const td = document.createElement("td");
  td.textContent = text(value);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

/* Live ops as a tree: children under their parent, indented. */
function ordered(list) {
  const byParent = new Map(), out = [];
  const ids = new Set(list.map(o => key(o, o.id)));
  for (const o of list) {
    const pk = o.parent_id ? key(o, o.parent_id) : "";
    const p = pk && ids.has(pk) ? pk : "";
    if (!byParent.has(p)) byParent.set(p, []);
    byParent.get(p).push(o);
  }
  (function walk(parent, depth) {
    for (const o of byParent.get(parent) || []) {
      out.push([o, depth]);
      walk(key(o, o.id), depth + 1);
    }
  })("", 0);
  return out;
}

function renderLive() {
  const body = document.querySelector("#live tbody");
  body.replaceChildren();
  document.querySelector("#live th.node").hidden = !aggregate;
  if (ops.length === 0) {
    const tr = body.insertRow();
    const td = cell(tr, "no operation is running", "empty");
    td.colSpan = aggregate ? 9 : 8;
    return;
  }
  for (const [o, depth] of ordered(ops)) {
    const tr = body.insertRow();
    tr.dataset.id = key(o, o.id);
    const p = progress.get(key(o, o.id));
    if (aggregate) cell(tr, o.node, "node");
    tr.dataset.start = typeof o.start_time === "number" ? o.start_time : "";
    const name = cell(tr, o.name, "name");
    name.style.paddingLeft = (0.6 + 1.4 * depth) + "em";
    cell(tr, o.status, "status st-" + o.status);
    /* Running: counted here from its start, between refreshes. */
    const running = o.status === "running" && typeof o.start_time === "number";
    cell(tr, secs(running ? Date.now() / 1000 - o.start_time : o.elapsed),
         "elapsed");
    cell(tr, "", "progress");
    cell(tr, "", "rate");
    cell(tr, "", "eta");
    cell(tr, o.message, "msg");
    fillProgress(tr, p);
    const act = cell(tr, "", "action");
    if (token && o.status === "running") {
      const b = document.createElement("button");
      b.textContent = "cancel";
      b.className = "cancel";
      b.onclick = () => cancel(o.id, b);
      act.appendChild(b);
    }
  }
}

/* The progress cells of @tr from the progress event @p (if any). */
function fillProgress(tr, p) {
  if (!p) return;
  const m = p.metadata || {}, td = tr.querySelector("td.progress");
  td.replaceChildren();
  if (typeof m.progress === "number") {
    const bar = document.createElement("span"), fill = document.createElement("span");
    bar.className = "bar";
    fill.style.width = Math.max(0, Math.min(100, m.progress)) + "%";
    bar.appendChild(fill);
    td.appendChild(bar);
    td.appendChild(document.createTextNode(" " + m.progress.toFixed(0) + "%"));
  } else if (typeof m.current === "number") {
    td.textContent = String(m.current);
  }
  td.dataset.value = typeof m.current === "number" ? String(m.current) : "";
  tr.querySelector("td.rate").textContent =
    typeof m.rate === "number" ? m.rate.toFixed(1) + "/s" : "";
  tr.querySelector("td.eta").textContent = secs(m.eta);
  tr.querySelector("td.msg").textContent = text(p.message);
}

function rowOf(id) {
  return [...document.querySelectorAll("#live tbody tr")]
    .find(tr => tr.dataset.id === id);
}

function updateProgress(id) {
  const tr = rowOf(id);
  if (tr) fillProgress(tr, progress.get(id));
}

/* Running ops' elapsed time, counted here between refreshes. */
function updateElapsed() {
  for (const tr of document.querySelectorAll("#live tbody tr")) {
    const start = parseFloat(tr.dataset.start);
    const td = tr.querySelector("td.elapsed");
    if (td && isFinite(start)) td.textContent = secs(Date.now() / 1000 - start);
  }
}

function renderHistory() {
  const body = document.querySelector("#history tbody");
  body.replaceChildren();
  for (const o of history.slice(0, 50)) {
    const tr = body.insertRow();
    tr.dataset.id = o.id;
    cell(tr, o.name, "name");
    cell(tr, o.status, "status st-" + o.status);
    cell(tr, o.reason, "reason");
    cell(tr, secs(o.elapsed), "elapsed");
    cell(tr, o.message, "msg");
  }
}

/* Failures the user must see, by what failed ("cancel": a cancel refused,
 * "refresh": the server gone); null when it last worked. */
const problems = { cancel: null, refresh: null };
function setProblem(kind, message) {
  problems[kind] = message;
  const box = document.getElementById("error");
  box.textContent = Object.values(problems).filter(m => m).join("\n");
  box.hidden = box.textContent === "";
}

/* "HTTP 401: missing or wrong bearer token" from a failed response. */
async function describe(r) {
  let detail = "";
  try {
    const body = await r.json();
    if (body && typeof body.error === "string") detail = ": " + body.error;
  } catch (e) { /* not JSON */ }
  return "HTTP " + r.status + detail;
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + await describe(r));
  return r.json();
}

/* One refresh at a time; events during it ask for one more.  A failure is
 * shown on the page until a refresh works. */
async function refresh() {
  try {
    await refreshOnce();
    setProblem("refresh", null);
  } catch (e) {
    setProblem("refresh", "Could not refresh: " + (e.message || String(e)));
  }
}

async function refreshOnce() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    do {
      again = false;
      const [all, st] = await Promise.all([getJSON("/api/history"),
                                           getJSON("/api/stats")]);
      aggregate = all.aggregate === true;
      ops = all.live || [];
      history = all.history || [];
      const live = new Set(ops.map(o => key(o, o.id)));
      for (const id of progress.keys()) if (!live.has(id)) progress.delete(id);
      /* An op's last report as the API keeps it, until the stream brings
       * a newer one: a page opened mid-job shows where the job is. */
      for (const o of ops)
        if (o.progress && (aggregate || !progress.has(o.id)))
          progress.set(key(o, o.id), { message: o.progress.message,
                                       metadata: o.progress.metadata });
      document.getElementById("stats").textContent = aggregate ?
        ops.length + " live on " + new Set(ops.map(o => o.node)).size +
          " nodes (every node's ops, refreshed every 2 s)" :
        st.live + " running, " + st.completed + " completed, " +
        st.cancelled + " cancelled, " + st.failed + " failed";
      renderLive();
      renderHistory();
    } while (again);
  } finally {
    refreshing = false;
  }
}

/* Cancels op @id; a refusal (401 wrong token, 403 cancelling disabled,
 * 404 already gone) is shown on the page. */
async function cancel(id, button) {
  button.disabled = true;
  let problem = null;
  try {
    const r = await fetch("/api/ops/" + encodeURIComponent(id) + "/cancel", {
      method: "POST", headers: { "Authorization": "Bearer " + token } });
    if (!r.ok) {
      problem = await describe(r);
      if (r.status === 401) problem += " (check the #token= of this page's address)";
    }
  } catch (e) {
    problem = e.message || String(e);
  }
  if (problem !== null) button.disabled = false;
  setProblem("cancel", problem === null ? null : "Could not cancel: " + problem);
  refresh();
}

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/api/events");
  es.onopen = () => { conn.textContent = "live"; conn.className = "live"; refresh(); };
  es.onerror = () => { conn.textContent = "reconnecting"; conn.className = ""; };
  for (const kind of ["entered", "cancelled", "exited"])
    es.addEventListener(kind, () => refresh());
  /* Events were lost: the progress seen may be stale; the API's is not. */
  for (const kind of ["reset", "gap"])
    es.addEventListener(kind, () => { progress.clear(); refresh(); });
  es.addEventListener("progress", e => {
    if (aggregate) return; /* this process's events: not the ops shown */
    const ev = JSON.parse(e.data);
    progress.set(ev.op_id, ev);
    updateProgress(ev.op_id); /* in place: buttons stay where they are */
  });
}

refresh();
connect();
setInterval(updateElapsed, 1000);
/* Aggregate mode: the event stream is this process's only; poll. */
setInterval(() => { if (aggregate) refresh(); }, 2000);
