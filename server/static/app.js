/* kubepipe dashboard: a small hash-routed page over the REST API (/api/v1).
 * Everything user-provided is inserted with textContent / attributes, never as HTML; HTML
 * artifacts are shown in a sandboxed iframe (no scripts, no same-origin). */
"use strict";

const main = document.getElementById("view");
let current = main;
/* Each route renders into its own container, so a slow page that finishes after the user moved
 * on writes into a detached element instead of over the new page. */
function screen() { return current; }
let timers = [];
let me = { role: "editor", namespace: null, auth: false };

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/* replaceChildren that accepts nested arrays and skips empty values, like h(). */
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false && c !== ""));
}

function svg(tag, attrs) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  return el;
}

function token() { return localStorage.getItem("kubepipe-token") || ""; }

async function api(method, path, body, raw) {
  const headers = {};
  if (token()) headers["Authorization"] = `Bearer ${token()}`;
  const init = { method, headers };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const response = await fetch(path, init);
  if (response.status === 401) { showLogin(); throw new ApiError(401, await response.json().catch(() => ({}))); }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  if (raw) return response.text();
  return response.status === 204 ? null : response.json();
}

function errorBox(error) {
  const box = h("div", { class: "error-box", role: "alert" });
  const body = error.body || {};
  box.append(h("strong", { text: body.error ? `${body.error}: ` : "error: " }));
  if (body.problems && body.problems.length) {
    box.append(body.field ? `field ${body.field}` : "");
    box.append(h("ul", {}, body.problems.map((p) => h("li", { class: "problem" },
      p.line ? `line ${p.line}: ` : "", p.path || p.field ? `${p.path || p.field}: ` : "",
      p.message, p.hint ? ` (${p.hint})` : ""))));
  } else {
    box.append(error.message, body.field ? ` [${body.field}]` : "");
  }
  return box;
}

function phase(value) { return h("span", { class: "phase", "data-phase": value || "Pending", text: value || "Pending" }); }
function when(text) { return text ? text.replace("T", " ").replace("Z", "") : "–"; }
function canEdit() { return me.role === "editor"; }
function every(ms, fn) {
  const root = current;
  const id = setInterval(() => { if (root.isConnected) fn(); else clearInterval(id); }, ms);
  timers.push(id);
  return id;
}

function showLogin() {
  const view = screen();
  view.replaceChildren(document.getElementById("token-form").content.cloneNode(true));
  document.getElementById("token-login").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem("kubepipe-token", new FormData(event.target).get("token"));
    start();
  });
}

/* ---- graph ------------------------------------------------------------------------------- */
// Top to bottom, as the Kubeflow Pipelines UI draws runs: a long chain grows down the page
// (which scrolls) instead of out of the graph panel's width.
const BOX_W = 150, BOX_H = 36, GAP_X = 20, GAP_Y = 40;

function drawGraph(container, graph, onSelect, selected) {
  const pos = {};
  let width = 0, height = 0;
  for (const node of graph.nodes) {
    const x = 16 + node.position * (BOX_W + GAP_X), y = 16 + node.layer * (BOX_H + GAP_Y);
    pos[node.id] = { x, y };
    width = Math.max(width, x + BOX_W + 16); height = Math.max(height, y + BOX_H + 16);
  }
  const root = svg("svg", { width: Math.max(width, 200), height: Math.max(height, 80), role: "img" });
  for (const [from, to] of graph.edges) {
    const a = pos[from], b = pos[to];
    if (!a || !b) continue;
    const x1 = a.x + BOX_W / 2, y1 = a.y + BOX_H, x2 = b.x + BOX_W / 2, y2 = b.y, mid = (y1 + y2) / 2;
    root.append(svg("path", { class: "edge", d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}` }));
  }
  for (const node of graph.nodes) {
    const g = svg("g", {
      class: "node" + (node.id === selected ? " selected" : ""),
      "data-node-id": node.id, "data-label": node.label, "data-phase": node.phase || "",
      transform: `translate(${pos[node.id].x},${pos[node.id].y})`, tabindex: "0",
    });
    const title = svg("title", {});
    title.textContent = `${node.label} (${node.phase || node.type || ""})`;
    const label = svg("text", { x: 10, y: 22 });
    label.textContent = node.label.length > 19 ? node.label.slice(0, 18) + "…" : node.label;
    g.append(title, svg("rect", { width: BOX_W, height: BOX_H, rx: 6 }), label);
    if (onSelect) {
      g.addEventListener("click", () => onSelect(node));
      g.addEventListener("keydown", (e) => { if (e.key === "Enter") onSelect(node); });
    }
    root.append(g);
  }
  container.replaceChildren(root);
}

/* ---- pipelines ----------------------------------------------------------------------------- */
async function pipelinesPage() {
  const view = screen();
  const errors = h("div", { id: "upload-errors" });
  const form = h("form", { class: "inline", id: "upload-form" },
    h("input", { type: "file", id: "upload-file", name: "uploadfile", accept: ".yaml,.yml", required: true }),
    h("input", { type: "text", id: "upload-name", name: "name", placeholder: "name (default: file name)" }),
    h("button", { type: "submit", id: "upload-submit", disabled: !canEdit() }, "Upload pipeline"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    const file = document.getElementById("upload-file").files[0];
    const name = document.getElementById("upload-name").value.trim();
    const data = new FormData();
    data.append("uploadfile", file);
    const query = name ? `?name=${encodeURIComponent(name)}` : "";
    try {
      const created = await api("POST", `/api/v1/pipelines/upload${query}`, data);
      location.hash = `#/pipelines/${created.id}`;
    } catch (error) { errors.replaceChildren(errorBox(error)); }
  });
  const table = h("tbody");
  view.replaceChildren(h("h1", {}, "Pipelines"),
    h("div", { class: "card" }, h("h2", {}, "Upload a Workflow YAML"), form, errors),
    h("div", { class: "card table-wrap" }, h("table", { id: "pipelines" },
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "optional" }, "Namespace"),
        h("th", {}, "Versions"), h("th", { class: "optional" }, "Created"))), table)));
  const { pipelines } = await api("GET", "/api/v1/pipelines");
  table.replaceChildren(...pipelines.map((p) => h("tr", { "data-pipeline-id": p.id },
    h("td", {}, h("a", { href: `#/pipelines/${p.id}` }, p.name)), h("td", { class: "optional" }, p.namespace),
    h("td", {}, p.versions), h("td", { class: "optional" }, when(p.created_at)))));
  if (!pipelines.length) table.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No pipelines yet: upload one.")));
}

async function pipelinePage(id) {
  const view = screen();
  const pipeline = await api("GET", `/api/v1/pipelines/${id}`);
  const { versions } = await api("GET", `/api/v1/pipelines/${id}/versions`);
  const { experiments } = await api("GET", "/api/v1/experiments");
  let version = versions[0];
  const graphBox = h("div", { class: "graph", id: "pipeline-graph" });
  const yamlBox = h("pre", { class: "logs", id: "pipeline-yaml" });
  const params = h("div", { id: "run-params" });
  const errors = h("div");
  const select = h("select", { id: "version-select" }, versions.map((v) => h("option", { value: v.id }, v.name)));
  const expSelect = h("select", { id: "experiment-select" }, h("option", { value: "" }, "(no experiment)"),
    experiments.filter((e) => e.namespace === pipeline.namespace).map((e) => h("option", { value: e.id }, e.name)));
  async function show() {
    drawGraph(graphBox, await api("GET", `/api/v1/pipelines/${id}/versions/${version.id}/graph`));
    yamlBox.textContent = await api("GET", `/api/v1/pipelines/${id}/versions/${version.id}/yaml`, undefined, true);
    params.replaceChildren(...Object.entries(version.parameters || {}).map(([name, value]) =>
      h("label", { class: "inline" }, `${name} `, h("input", { "data-param": name, value: value ?? "" }))));
  }
  select.addEventListener("change", () => { version = versions.find((v) => v.id === select.value); show(); });
  const startButton = h("button", { id: "start-run", disabled: !canEdit(), onclick: async () => {
    errors.replaceChildren();
    const parameters = {};
    for (const input of params.querySelectorAll("input[data-param]")) parameters[input.dataset.param] = input.value;
    try {
      const run = await api("POST", "/api/v1/runs", { pipeline_version_id: version.id, parameters,
        experiment_id: expSelect.value || null });
      location.hash = `#/runs/${run.id}`;
    } catch (error) { errors.replaceChildren(errorBox(error)); }
  } }, "Start run");
  const deleteButton = h("button", { class: "danger", disabled: !canEdit(), onclick: async () => {
    if (!confirm(`Delete pipeline ${pipeline.name} and all its versions?`)) return;
    await api("DELETE", `/api/v1/pipelines/${id}`); location.hash = "#/pipelines";
  } }, "Delete");
  view.replaceChildren(h("h1", {}, `Pipeline ${pipeline.name}`),
    h("div", { class: "card" }, h("div", { class: "inline" }, "Version ", select, " ", deleteButton),
      h("h2", { style: "margin-top:12px" }, "Graph"), graphBox),
    h("div", { class: "card" }, h("h2", {}, "Start a run"), params, h("p", {}, "Experiment ", expSelect), startButton, errors),
    h("div", { class: "card" }, h("h2", {}, "YAML"), yamlBox));
  if (version) await show();
}

/* ---- runs ---------------------------------------------------------------------------------- */
async function runsPage() {
  const view = screen();
  const filter = h("select", { id: "phase-filter" }, h("option", { value: "" }, "all phases"),
    ["Pending", "Running", "Succeeded", "Failed", "Error"].map((p) => h("option", { value: p }, p)));
  const body = h("tbody");
  const pager = h("span", { class: "muted", id: "runs-total" });
  async function refresh() {
    const experiment = new URLSearchParams(location.hash.split("?")[1] || "").get("experiment");
    let query = filter.value ? `&phase=${filter.value}` : "";
    if (experiment) query += `&experiment_id=${encodeURIComponent(experiment)}`;
    const page = await api("GET", `/api/v1/runs?page_size=50${query}`);
    pager.textContent = `${page.total_size} run(s)`;
    body.replaceChildren(...page.runs.map((r) => h("tr", { "data-run-id": r.id },
      h("td", {}, h("a", { href: `#/runs/${r.id}` }, r.name)), h("td", {}, phase(r.phase)),
      h("td", { class: "optional" }, r.namespace), h("td", { class: "optional" }, when(r.created_at)),
      h("td", { class: "optional" }, when(r.finished_at)), h("td", { class: "optional muted" }, r.message))));
    if (!page.runs.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No runs.")));
  }
  filter.addEventListener("change", refresh);
  view.replaceChildren(h("h1", {}, "Runs"), h("div", { class: "card" }, h("div", { class: "inline" }, "Phase ", filter, " ", pager)),
    h("div", { class: "card table-wrap" }, h("table", { id: "runs" }, h("thead", {}, h("tr", {},
      h("th", {}, "Name"), h("th", {}, "Phase"), h("th", { class: "optional" }, "Namespace"),
      h("th", { class: "optional" }, "Created"), h("th", { class: "optional" }, "Finished"),
      h("th", { class: "optional" }, "Message"))), body)));
  await refresh();
  every(2000, () => refresh().catch(() => {}));
}

const FINISHED = new Set(["Succeeded", "Failed", "Error"]);

async function runPage(id) {
  const view = screen();
  let selected = null;
  const title = h("h1", {});
  const badge = h("span", { id: "run-phase" });
  const actions = h("div", { class: "inline" });
  const meta = h("dl", { class: "kv" });
  const graphBox = h("div", { class: "graph", id: "run-graph" });
  const panel = h("div", { class: "card side", id: "node-panel" }, h("p", { class: "muted" }, "Click a node for its details, logs and artifacts."));
  const errors = h("div");
  const trialsBox = h("div", { id: "trials" });
  view.replaceChildren(h("div", { class: "inline" }, title, badge), actions, errors,
    h("div", { class: "row" }, h("div", { class: "grow" }, h("div", { class: "card" }, meta), h("div", { class: "card" }, h("h2", {}, "Graph"), graphBox)), panel),
    trialsBox);
  let run = null, finishedOnce = false;
  const trialSections = new Map();  // experiment node id -> its section (keeps sort order across polls)

  async function act(method, path, then) {
    errors.replaceChildren();
    try { const out = await api(method, path); if (then) then(out); else refresh(); }
    catch (error) { errors.replaceChildren(errorBox(error)); }
  }
  async function refresh() {
    run = await api("GET", `/api/v1/runs/${id}`);
    title.textContent = run.name;
    badge.replaceChildren(phase(run.phase));
    fill(meta, 
      h("dt", {}, "ID"), h("dd", {}, run.id), h("dt", {}, "Namespace"), h("dd", {}, run.namespace),
      h("dt", {}, "Started"), h("dd", {}, when(run.startedAt)), h("dt", {}, "Finished"), h("dd", {}, when(run.finishedAt)),
      h("dt", {}, "Parameters"), h("dd", {}, JSON.stringify(run.parameters)),
      run.message ? [h("dt", {}, "Message"), h("dd", {}, run.message)] : [],
      run.retryOf ? [h("dt", {}, "Retry of"), h("dd", {}, h("a", { href: `#/runs/${run.retryOf}` }, run.retryOf))] : []);
    const done = FINISHED.has(run.phase);
    fill(actions, 
      !done && canEdit() ? h("button", { id: "stop-run", class: "secondary", onclick: () => act("POST", `/api/v1/runs/${id}/stop`) }, "Stop") : "",
      done && run.phase !== "Succeeded" && canEdit() ? h("button", { id: "retry-run", onclick: () => act("POST", `/api/v1/runs/${id}/retry`, (r) => { location.hash = `#/runs/${r.id}`; }) }, "Retry") : "",
      done && canEdit() ? h("button", { id: "delete-run", class: "danger", onclick: () => { if (confirm("Delete this run?")) act("DELETE", `/api/v1/runs/${id}`, () => { location.hash = "#/runs"; }); } }, "Delete") : "");
    drawGraph(graphBox, await api("GET", `/api/v1/runs/${id}/graph`), select, selected);
    await refreshTrials();
    if (selected) await showNode(selected, false);
    return done;
  }
  /* A Katib experiment step (a node with Trial children) gets a trials section under the graph;
   * it follows the run while trials run and stops fetching once the step has finished. */
  async function refreshTrials() {
    const trialIds = new Set(run.nodes.filter((n) => n.type === "Trial").map((n) => n.id));
    for (const node of run.nodes.filter((n) => n.children.some((c) => trialIds.has(c)))) {
      let section = trialSections.get(node.id);
      if (!section) {
        section = trialsSection(id, node.id, (trial) => select({ id: trial.node_id }));
        trialSections.set(node.id, section);
        trialsBox.append(section.el);
      }
      if (section.final) continue;
      try { await section.load(); } catch (error) { section.el.replaceChildren(errorBox(error)); }
      section.final = FINISHED.has(node.phase);
    }
  }
  async function select(node) { selected = node.id; graphBox.querySelectorAll(".node").forEach((g) => g.classList.toggle("selected", g.dataset.nodeId === node.id)); await showNode(node.id, true); }
  async function showNode(nodeId, fresh) {
    const node = await api("GET", `/api/v1/runs/${id}/nodes/${encodeURIComponent(nodeId)}`);
    const logs = h("pre", { class: "logs", id: "node-logs" }, "loading…");
    const { artifacts } = await api("GET", `/api/v1/runs/${id}/artifacts?node_id=${encodeURIComponent(nodeId)}`);
    const metrics = Object.entries(node.metrics || {});
    fill(panel, h("h2", { id: "node-title" }, node.displayName, " ", phase(node.phase)),
      h("dl", { class: "kv" }, h("dt", {}, "Template"), h("dd", {}, node.templateName || "–"),
        h("dt", {}, "Type"), h("dd", {}, node.type), h("dt", {}, "Started"), h("dd", {}, when(node.startedAt)),
        h("dt", {}, "Finished"), h("dd", {}, when(node.finishedAt)), h("dt", {}, "Exit code"), h("dd", {}, node.exitCode ?? "–"),
        h("dt", {}, "Attempts"), h("dd", {}, node.events.map((e) => `${e.to}${e.reason ? ` (${e.reason})` : ""}`).join(" → ")),
        node.message ? [h("dt", {}, "Message"), h("dd", {}, node.message)] : [],
        h("dt", {}, "Inputs"), h("dd", {}, h("code", {}, JSON.stringify(node.inputs.parameters || {}))),
        h("dt", {}, "Outputs"), h("dd", {}, h("code", {}, JSON.stringify(node.outputs.parameters || {}))),
        node.outputs.result !== null && node.outputs.result !== undefined ? [h("dt", {}, "Result"), h("dd", {}, h("code", {}, node.outputs.result))] : []),
      metrics.length ? [h("h2", { style: "margin-top:12px" }, "Metrics"), h("table", { id: "metrics" }, h("thead", {}, h("tr", {}, h("th", {}, "Artifact"), h("th", {}, "Metric"), h("th", {}, "Value"))),
        h("tbody", {}, metrics.flatMap(([art, values]) => Object.entries(values).map(([k, v]) => h("tr", {}, h("td", {}, art), h("td", {}, k), h("td", {}, String(v)))))))] : [],
      h("h2", { style: "margin-top:12px" }, "Artifacts"),
      artifacts.length ? h("ul", { id: "node-artifacts" }, artifacts.map((a) => h("li", {}, h("a", { href: a.download, download: a.name }, a.name), ` ${a.size} bytes`, artifactPreview(a)))) : h("p", { class: "muted" }, "none"),
      h("h2", { style: "margin-top:12px" }, "Logs"), logs);
    try {
      const text = await api("GET", `/api/v1/runs/${id}/nodes/${encodeURIComponent(nodeId)}/logs`, undefined, true);
      logs.textContent = text || (FINISHED.has(node.phase) ? "(no output)" : "(logs appear when the step ends)");
    } catch (error) { logs.textContent = error.message; }
  }
  await refresh();
  const timer = every(1000, async () => {
    try {
      const done = await refresh();
      if (done) { if (finishedOnce) clearInterval(timer); finishedOnce = true; }
    } catch (error) { clearInterval(timer); }
  });
}

/* ---- Katib trials: table and inline SVG plots ---------------------------------------------- */
function fmt(value) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  if (Number.isInteger(n)) return String(n);
  const a = Math.abs(n);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? n.toExponential(2) : String(Number(n.toPrecision(4)));
}

function niceTicks(lo, hi, count) {
  const span = hi - lo, raw = span / Math.max(count, 1), mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) || 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/* Ticks for a log axis spanning exponents [llo, lhi]: powers of ten (every few decades when many
 * fit), plus 2 and 5 multiples when it spans under two decades, which would leave too few; a
 * range so narrow that it holds fewer than two of those falls back to linear ticks. */
function logTicks(llo, lhi) {
  const at = (m, k) => Number(`${m}e${k}`);  // exact, where m * 10 ** k can be off by an ulp
  const inside = (t) => Math.log10(t) >= llo - 1e-9 && Math.log10(t) <= lhi + 1e-9;
  const every = Math.max(1, Math.ceil((Math.floor(lhi) - Math.ceil(llo) + 1) / 6));
  const ticks = [];
  for (let k = Math.ceil(llo - 1e-9); k <= lhi + 1e-9; k += every) ticks.push(at(1, k));
  if (lhi - llo < 2) {
    for (let k = Math.floor(llo); k <= Math.floor(lhi); k++) ticks.push(...[at(2, k), at(5, k)].filter(inside));
    ticks.sort((a, b) => a - b);
  }
  return ticks.length >= 2 ? ticks : niceTicks(10 ** llo, 10 ** lhi, 4).filter((t) => t > 0);
}

function padded(lo, hi) {
  if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1];
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

/* One scatter plot. `x` is numeric ({lo, hi, integer, log}) or categorical ({categories}); a log
 * x (lo > 0) is spaced and padded by log10, so a tenfold value is always one decade further right.
 * Points are {x, y, name, best}; `line` is an optional list of [x, y] drawn as a step line
 * (running best). */
function scatterPlot({ id, title, xLabel, yLabel, x, yDomain, points, line }) {
  const W = 340, H = 230, L = 56, R = 14, T = 12, B = 40, pw = W - L - R, ph = H - T - B;
  const root = svg("svg", { class: "plot", id, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, preserveAspectRatio: "xMidYMid meet",
    "data-x-scale": x.categories ? "categorical" : x.log ? "log" : "linear" });
  const [ylo, yhi] = yDomain;
  const sy = (v) => T + ph - ((v - ylo) / (yhi - ylo)) * ph;
  let sx, xTicks;
  if (x.categories) {
    const band = pw / Math.max(x.categories.length, 1);
    sx = (v, i) => L + band * (x.categories.indexOf(v) + 0.5) + (x.categories.length ? ((i * 37) % 11 - 5) * Math.min(band / 30, 2) : 0);
    xTicks = x.categories.map((c, i) => ({ at: L + band * (i + 0.5), label: c.length > 10 ? c.slice(0, 9) + "…" : c }));
  } else if (x.log) {
    const lo = Math.log10(x.lo), hi = Math.log10(x.hi);
    const [llo, lhi] = lo === hi ? [lo - 0.5, hi + 0.5] : padded(lo, hi);
    sx = (v) => L + ((Math.log10(v) - llo) / (lhi - llo)) * pw;
    xTicks = logTicks(llo, lhi).filter((t) => !x.integer || Number.isInteger(t)).map((t) => ({ at: sx(t), label: fmt(t) }));
  } else {
    const [xlo, xhi] = padded(x.lo, x.hi);
    sx = (v) => L + ((v - xlo) / (xhi - xlo)) * pw;
    xTicks = niceTicks(xlo, xhi, 5).filter((t) => !x.integer || Number.isInteger(t)).map((t) => ({ at: sx(t), label: fmt(t) }));
  }
  root.append(svg("rect", { class: "plot-area", x: L, y: T, width: pw, height: ph }));
  for (const t of niceTicks(ylo, yhi, 4)) {
    root.append(svg("line", { class: "grid", x1: L, x2: L + pw, y1: sy(t), y2: sy(t) }));
    const label = svg("text", { class: "tick", x: L - 6, y: sy(t) + 4, "text-anchor": "end" });
    label.textContent = fmt(t);
    root.append(label);
  }
  for (const t of xTicks) {
    root.append(svg("line", { class: "axis-tick", x1: t.at, x2: t.at, y1: T + ph, y2: T + ph + 4 }));
    const label = svg("text", { class: "tick", x: t.at, y: T + ph + 16, "text-anchor": "middle" });
    label.textContent = t.label;
    root.append(label);
  }
  const xl = svg("text", { class: "axis-label", x: L + pw / 2, y: H - 6, "text-anchor": "middle" });
  xl.textContent = x.log ? `${xLabel} (log)` : xLabel;
  const yl = svg("text", { class: "axis-label", x: 12, y: T + ph / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${T + ph / 2})` });
  yl.textContent = yLabel;
  root.append(xl, yl);
  if (line && line.length) {
    let d = "";
    line.forEach(([lx, ly], i) => { d += i === 0 ? `M${sx(lx)},${sy(ly)}` : `H${sx(lx)}V${sy(ly)}`; });
    d += `H${L + pw}`;
    root.append(svg("path", { class: "running-best", d }));
  }
  const ordered = [...points].sort((a, b) => Number(a.best) - Number(b.best));  // best drawn on top
  ordered.forEach((p) => {
    const dot = svg("circle", { class: "point" + (p.best ? " best" : ""), cx: sx(p.x, p.index), cy: sy(p.y), r: p.best ? 6 : 4.5, "data-trial": p.name });
    const tip = svg("title", {});
    tip.textContent = `${p.name}: ${xLabel} ${fmt(p.x)}, ${yLabel} ${fmt(p.y)}`;
    dot.append(tip);
    root.append(dot);
  });
  return h("figure", { class: "plot-box" }, root, h("figcaption", {}, title));
}

function trialsSection(runId, nodeId, onOpen) {
  const el = h("section", { class: "card trials", "data-experiment": nodeId });
  const section = { el, final: false, data: null, sort: { key: "index", dir: 1 } };
  function value(row, key) {
    if (key === "index") return row.index;
    if (key === "name") return row.name;
    if (key === "state") return row.state;
    if (key === "objective") return row.objective;
    return row.parameters[key.slice(2)];
  }
  function compare(a, b) {
    const { key, dir } = section.sort;
    const va = value(a, key), vb = value(b, key);
    const missing = (v) => v === null || v === undefined || v === "";
    if (missing(va) || missing(vb)) return missing(va) - missing(vb);  // empty last, either way
    const na = Number(va), nb = Number(vb);
    const order = Number.isFinite(na) && Number.isFinite(nb) ? na - nb : String(va).localeCompare(String(vb));
    return dir * order || a.index - b.index;
  }
  function sortBy(key) {
    section.sort = section.sort.key === key ? { key, dir: -section.sort.dir } : { key, dir: 1 };
    render();
  }
  function header(key, label, cls) {
    const active = section.sort.key === key;
    return h("th", { class: cls, "aria-sort": active ? (section.sort.dir > 0 ? "ascending" : "descending") : "none" },
      h("button", { class: "sort", type: "button", "data-sort": key, onclick: () => sortBy(key) }, label,
        h("span", { class: "arrow", "aria-hidden": "true" }, active ? (section.sort.dir > 0 ? " ▲" : " ▼") : "")));
  }
  function hover(name, on) {
    el.querySelectorAll("circle.point").forEach((c) => c.classList.toggle("hover", on && c.dataset.trial === name));
  }
  function render() {
    const d = section.data;
    const objective = d.objective.name;
    const rows = [...d.trials].sort(compare);
    const best = d.trials.find((t) => t.best);
    const table = h("table", { class: "trials-table" },
      h("thead", {}, h("tr", {}, header("index", "#", "num"), header("name", "Trial"), header("objective", objective, "num objective"),
        d.parameters.map((p) => header(`p:${p.name}`, p.name, "num")), header("state", "State", "optional"))),
      h("tbody", {}, rows.map((t) => h("tr", {
        class: t.best ? "best" : null, "data-trial": t.name, "data-state": t.state,
        onmouseenter: () => hover(t.name, true), onmouseleave: () => hover(t.name, false),
      },
      h("td", { class: "num muted" }, t.index + 1),
      h("td", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); onOpen(t); } }, t.name), t.best ? h("span", { class: "best-tag" }, "best") : null),
      h("td", { class: "num objective" }, fmt(t.objective)),
      d.parameters.map((p) => h("td", { class: "num", title: t.parameters[p.name] ?? "" }, fmt(t.parameters[p.name]))),
      h("td", { class: "optional" }, h("span", { class: "trial-state", "data-state": t.state }, t.state))))));
    if (!d.trials.length) table.querySelector("tbody").append(h("tr", {}, h("td", { colspan: 4 + d.parameters.length, class: "muted" }, "No trials yet.")));

    const scored = d.trials.filter((t) => t.objective !== null);
    const plots = h("div", { class: "plots" });
    if (scored.length) {
      const ys = scored.map((t) => t.objective);
      const yDomain = padded(Math.min(...ys), Math.max(...ys));
      const better = d.objective.type === "maximize" ? (a, b) => a > b : (a, b) => a < b;
      const line = [];
      let bestSoFar = null;
      for (const t of scored) if (bestSoFar === null || better(t.objective, bestSoFar)) { bestSoFar = t.objective; line.push([t.index, bestSoFar]); }
      plots.append(scatterPlot({ id: `plot-${nodeId}-index`, title: `${objective} by trial (line: best so far)`, xLabel: "trial #", yLabel: objective,
        x: { lo: 0, hi: Math.max(d.trials.length - 1, 1), integer: true }, yDomain, line,
        points: scored.map((t) => ({ x: t.index, y: t.objective, name: t.name, best: t.best, index: t.index })) }));
      for (const p of d.parameters) {
        const values = scored.map((t) => t.parameters[p.name]);
        let x;
        if (p.numeric) {
          const nums = values.map(Number).filter(Number.isFinite);
          x = { lo: Math.min(p.min ?? Infinity, ...nums), hi: Math.max(p.max ?? -Infinity, ...nums), integer: p.type === "int" };
          x.log = p.scale === "log" && x.lo > 0;  // a value outside the space at or below 0 cannot sit on a log axis
        } else {
          x = { categories: [...new Set([...(p.values || []), ...values.map(String)])] };
        }
        plots.append(scatterPlot({ id: `plot-${nodeId}-${p.name}`, title: `${objective} against ${p.name}${p.numeric ? "" : " (categorical)"}`,
          xLabel: p.name, yLabel: objective, x, yDomain,
          points: scored.map((t) => ({ x: p.numeric ? Number(t.parameters[p.name]) : String(t.parameters[p.name]), y: t.objective, name: t.name, best: t.best, index: t.index })) }));
      }
    } else {
      plots.append(h("p", { class: "muted" }, "The plots appear when a trial reports its objective."));
    }
    const unscored = d.trials.length - scored.length;
    fill(el,
      h("div", { class: "trials-head" }, h("h2", {}, `Trials · ${d.experiment}`),
        h("span", { class: "muted" }, `${d.algorithm} · ${d.objective.type} ${objective}`, d.objective.goal !== null ? ` (goal ${fmt(d.objective.goal)})` : "",
          ` · ${d.trials.length} trial(s)`, d.condition ? ` · ${d.condition}` : "")),
      best ? h("p", { class: "best-line" }, "Best ", h("strong", {}, best.name), `: ${objective} = ${fmt(best.objective)}`,
        d.parameters.length ? ` with ${d.parameters.map((p) => `${p.name} = ${fmt(best.parameters[p.name])}`).join(", ")}` : "") : null,
      h("div", { class: "table-wrap" }, table),
      plots,
      unscored > 0 && scored.length ? h("p", { class: "muted" }, `${unscored} trial(s) without an objective are not plotted.`) : null);
  }
  section.load = async () => {
    section.data = await api("GET", `/api/v1/runs/${runId}/nodes/${encodeURIComponent(nodeId)}/trials`);
    render();
  };
  return section;
}

function artifactPreview(a) {
  const name = a.name.toLowerCase();
  if (a.archived || a.size > 512 * 1024) return null;
  const holder = h("div");
  if (name.endsWith(".html") || name.endsWith("html") || name.endsWith(".md") || name.endsWith("markdown")) {
    api("GET", a.download, undefined, true).then((text) => {
      if (name.includes("htm")) holder.append(h("iframe", { class: "artifact", sandbox: "", srcdoc: text, title: a.name }));
      else holder.append(h("pre", { class: "logs" }, text));
    }).catch(() => {});
  }
  return holder;
}

/* ---- experiments --------------------------------------------------------------------------- */
async function experimentsPage() {
  const view = screen();
  const errors = h("div");
  const name = h("input", { id: "experiment-name", placeholder: "name", required: true });
  const form = h("form", { class: "inline" }, name, h("button", { type: "submit", disabled: !canEdit() }, "Create experiment"));
  const body = h("tbody");
  form.addEventListener("submit", async (event) => {
    event.preventDefault(); errors.replaceChildren();
    try { await api("POST", "/api/v1/experiments", { name: name.value.trim() }); name.value = ""; await refresh(); }
    catch (error) { errors.replaceChildren(errorBox(error)); }
  });
  async function refresh() {
    const { experiments } = await api("GET", "/api/v1/experiments");
    body.replaceChildren(...experiments.map((e) => h("tr", {}, h("td", {}, e.name), h("td", { class: "optional" }, e.namespace),
      h("td", {}, h("a", { href: `#/runs?experiment=${e.id}` }, `${e.runs} run(s)`)), h("td", { class: "optional" }, when(e.created_at)))));
  }
  view.replaceChildren(h("h1", {}, "Experiments"), h("div", { class: "card" }, form, errors),
    h("div", { class: "card table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "optional" }, "Namespace"), h("th", {}, "Runs"), h("th", { class: "optional" }, "Created"))), body)));
  await refresh();
}

/* ---- recurring runs ------------------------------------------------------------------------ */
async function recurringPage() {
  const view = screen();
  const { pipelines } = await api("GET", "/api/v1/pipelines");
  const errors = h("div", { id: "recurring-errors" });
  const name = h("input", { id: "recurring-name", placeholder: "name (lowercase, digits, -)", required: true });
  const pipeline = h("select", { id: "recurring-pipeline" }, pipelines.map((p) => h("option", { value: p.id }, p.name)));
  const kind = h("select", { id: "schedule-kind" }, h("option", { value: "cron" }, "cron"), h("option", { value: "interval" }, "every"));
  const schedule = h("input", { id: "schedule-input", placeholder: "0 * * * *  or  15m", required: true });
  const zone = h("input", { id: "schedule-tz", value: "UTC", size: 14 });
  const preview = h("div", { id: "next-times", class: "muted" }, "Type a schedule to see its next five fire times.");
  let pending = null;
  function params() { return kind.value === "cron" ? { cron: schedule.value } : { interval: schedule.value }; }
  function update() {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      if (!schedule.value.trim()) return;
      const query = new URLSearchParams({ ...params(), timezone: zone.value || "UTC", count: "5" });
      try {
        const out = await api("GET", `/api/v1/recurring-runs/preview?${query}`);
        preview.replaceChildren(h("span", {}, out.schedule), h("ol", { class: "times" }, out.times.map((t) => h("li", {}, t))));
      } catch (error) { preview.replaceChildren(errorBox(error)); }
    }, 200);
  }
  for (const el of [schedule, zone, kind]) el.addEventListener("input", update);
  const form = h("form", { class: "inline", id: "recurring-form" }, name, pipeline, kind, schedule, "TZ", zone,
    h("button", { type: "submit", id: "recurring-submit", disabled: !canEdit() }, "Create recurring run"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault(); errors.replaceChildren();
    try {
      await api("POST", "/api/v1/recurring-runs", { name: name.value.trim(), pipeline_id: pipeline.value, timezone: zone.value || "UTC", ...params() });
      await refresh();
    } catch (error) { errors.replaceChildren(errorBox(error)); }
  });
  const body = h("tbody");
  async function refresh() {
    const { recurring_runs: items } = await api("GET", "/api/v1/recurring-runs");
    body.replaceChildren(...items.map((r) => h("tr", { "data-recurring": r.name },
      h("td", {}, r.name), h("td", {}, r.schedule), h("td", {}, r.enabled ? "enabled" : "disabled"),
      h("td", { class: "optional" }, r.nextFireTime || "–"),
      h("td", {}, canEdit() ? h("button", { class: "secondary", onclick: async () => { await api("POST", `/api/v1/recurring-runs/${r.id}/${r.enabled ? "disable" : "enable"}`); refresh(); } }, r.enabled ? "Disable" : "Enable") : "",
        " ", canEdit() ? h("button", { class: "danger", onclick: async () => { if (confirm(`Delete ${r.name}?`)) { await api("DELETE", `/api/v1/recurring-runs/${r.id}`); refresh(); } } }, "Delete") : ""))));
    if (!items.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No recurring runs.")));
  }
  view.replaceChildren(h("h1", {}, "Recurring runs"), h("div", { class: "card" }, h("h2", {}, "New recurring run"), form, preview, errors),
    h("div", { class: "card table-wrap" }, h("table", { id: "recurring" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Schedule"), h("th", {}, "State"), h("th", { class: "optional" }, "Next fire"), h("th", {}, ""))), body)));
  await refresh();
}

/* ---- routing ------------------------------------------------------------------------------- */
async function route() {
  timers.forEach(clearInterval); timers = [];
  current = document.createElement("div");
  main.replaceChildren(current);
  const view = current;
  const [path] = (location.hash || "#/runs").slice(1).split("?");
  const parts = path.split("/").filter(Boolean);
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === parts[0]));
  try {
    if (parts[0] === "pipelines" && parts[1]) await pipelinePage(parts[1]);
    else if (parts[0] === "pipelines") await pipelinesPage();
    else if (parts[0] === "runs" && parts[1]) await runPage(parts[1]);
    else if (parts[0] === "experiments") await experimentsPage();
    else if (parts[0] === "recurring") await recurringPage();
    else await runsPage();
  } catch (error) {
    if (error.status !== 401) view.replaceChildren(errorBox(error));
  }
}

async function start() {
  try {
    me = await api("GET", "/api/v1/whoami");
    document.getElementById("who").textContent = me.auth ? `${me.namespace} · ${me.role}` : "local user";
    await route();
  } catch (error) { if (error.status !== 401) screen().replaceChildren(errorBox(error)); }
}

window.addEventListener("hashchange", route);
start();
