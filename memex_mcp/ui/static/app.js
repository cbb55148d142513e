// The memex viewer's page. It reads the JSON API under /ui/api (see memex_mcp/ui/app.py) with the
// cookie the login set, polls it every POLL_MS (a session only when its ETag changed), and renders
// everything as text nodes: what a session holds is never interpreted as HTML.
"use strict";

const POLL_MS = 1500;
const API = "/ui/api/sessions";
const state = {
  sessions: [], current: null, etag: null, detail: null, tab: "scope",
  history: [], historyMore: false, agent: null, open: new Set(),
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// replaceChildren, leaving out the absent (null) parts.
function fill(box, ...children) {
  box.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
}

const num = (n) => (n ?? 0).toLocaleString("en-US");
function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}
const secs = (s) => (s === null || s === undefined ? "" : s < 1 ? (s * 1000).toFixed(0) + " ms" : s.toFixed(1) + " s");

async function getJSON(url, etag) {
  const headers = etag ? { "If-None-Match": etag } : {};
  const response = await fetch(url, { headers, credentials: "same-origin", cache: "no-cache" });
  if (response.status === 401) { location.reload(); throw new Error("logged out"); }
  if (response.status === 304) return { unchanged: true };
  if (!response.ok) return { missing: true, status: response.status };
  return { body: await response.json(), etag: response.headers.get("ETag") };
}

// -- sessions -----------------------------------------------------------------------------------

function renderSessions() {
  const nav = document.getElementById("sessions");
  nav.replaceChildren();
  if (!state.sessions.length) nav.append(el("p", { class: "muted" }, "No sessions in this state dir yet."));
  for (const s of state.sessions) {
    const label = s.kind === "unnamed" ? "unnamed (" + s.id.split("-")[1] + ")" : s.id;
    const item = el("a", {
      href: "#" + encodeURIComponent(s.id),
      class: "session" + (s.id === state.current ? " selected" : ""),
      "data-session": s.id,
    },
      el("span", { class: "dot " + (s.live ? "live" : "saved"), title: s.live ? "live" : "saved" }),
      el("span", { class: "name" }, label),
      el("span", { class: "meta" }, s.kind + " · " + num(s.executions) + " exec · " + num(s.agents) + " agents" +
        (s.agents_running ? " (" + s.agents_running + " running)" : "")));
    nav.append(item);
  }
}

async function pollSessions() {
  const got = await getJSON(API);
  if (!got.body) return;
  state.sessions = got.body.sessions;
  document.getElementById("who").textContent = got.body.principal ? "as " + got.body.principal : "";
  renderSessions();
}

// -- one session --------------------------------------------------------------------------------

function select(id) {
  if (state.current === id) return;
  Object.assign(state, { current: id, etag: null, detail: null, history: [], agent: null, agentRecord: null, open: new Set() });
  const main = document.getElementById("session");
  main.replaceChildren(document.getElementById("session-template").content.cloneNode(true));
  for (const button of main.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  showTab(state.tab);
  renderSessions();
  pollSession();
}

function showTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== "tab-" + tab;
  const history = document.getElementById("tab-history");
  if (tab === "history" && history) requestAnimationFrame(() => scrollToCuts(history));
}

async function pollSession() {
  const id = state.current;
  if (!id) return;
  const base = API + "/" + encodeURIComponent(id);
  const got = await getJSON(base, state.etag);
  if (id !== state.current || got.unchanged) return;
  if (got.missing) {
    document.getElementById("session").replaceChildren(el("p", { class: "muted" }, "There is no such session for you."));
    return;
  }
  state.etag = got.etag;
  state.detail = got.body;
  const shown = Math.min(Math.max(state.history.length, 50), 500);
  const page = await getJSON(base + "/history?limit=" + shown);
  if (page.body) { state.history = page.body.executions; state.historyMore = page.body.more; }
  if (state.agent !== null) await loadAgent(state.agent, false);
  renderSession();
}

function renderSession() {
  const d = state.detail;
  const main = document.getElementById("session");
  main.querySelector(".title").replaceChildren(
    el("span", { class: "dot " + (d.live ? "live" : "saved") }), d.id, el("small", {}, " " + d.kind + (d.live ? ", live" : ", saved")));
  renderTotals(main.querySelector(".totals"), d.totals);
  renderScope(document.getElementById("tab-scope"), d.scope);
  renderHistory(document.getElementById("tab-history"));
  renderAgents(document.getElementById("tab-agents"), d.agents);
}

function renderTotals(box, t) {
  const share = t.kept_chars ? Math.min(t.sent_chars / t.kept_chars, 1) : 0;
  fill(box,
    el("div", { class: "stat" }, el("b", {}, num(t.executions)), " executions", t.failed ? " (" + t.failed + " failed)" : ""),
    el("div", { class: "stat", "data-total": "sent" }, el("b", {}, num(t.sent_chars)), " chars sent to the model"),
    el("div", { class: "stat", "data-total": "kept" }, el("b", {}, num(t.kept_chars)), " chars kept in the kernel"),
    el("div", { class: "bar", title: (share * 100).toFixed(1) + "% of the output was sent" },
      el("span", { style: "width:" + (share * 100).toFixed(2) + "%" })),
    el("div", { class: "stat" }, el("b", {}, num(t.agents)), " agents",
      t.agents_running ? " (" + t.agents_running + " running)" : "",
      " · " + num(t.agent_input_tokens) + " in / " + num(t.agent_output_tokens) + " out tokens"));
}

// -- scope --------------------------------------------------------------------------------------

function renderPreview(p) {
  if (!p) return null;
  if (p.kind === "table") {
    const head = el("tr", {}, el("th", {}, ""), ...p.columns.map((c) => el("th", {}, c)));
    const rows = p.rows.map((r) => el("tr", {}, ...r.map((v, i) => (i ? el("td", {}, v) : el("th", {}, v)))));
    const shape = p.shape ? el("p", { class: "muted" }, "first " + p.rows.length + " of " + num(p.shape[0]) + " rows") : null;
    return el("div", { class: "preview table" }, el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)), shape);
  }
  if (p.kind === "image") return el("div", { class: "preview image" }, el("img", { src: "data:image/png;base64," + p.data, alt: "" }));
  const more = p.chars && p.chars > p.text.length ? el("p", { class: "muted" }, "first " + num(p.text.length) + " of " + num(p.chars) + " chars") : null;
  return el("div", { class: "preview text" }, el("pre", {}, p.text), more);
}

function renderScope(box, scope) {
  const rows = scope.variables.map((v) => {
    const key = "var:" + v.name;
    const preview = renderPreview(v.preview);
    const open = state.open.has(key) || (!state.open.has("closed:" + key) && v.preview && v.preview.kind !== "text");
    const details = el("details", { class: "variable", "data-name": v.name },
      el("summary", {},
        el("code", { class: "name" }, v.name), el("span", { class: "type" }, v.type || ""),
        el("span", { class: "size" }, bytes(v.size_bytes)), el("span", { class: "summary" }, v.summary || "")),
      preview || el("p", { class: "muted" }, "no preview"));
    details.open = Boolean(open);
    details.addEventListener("toggle", () => {
      state.open.delete(details.open ? "closed:" + key : key);
      state.open.add(details.open ? key : "closed:" + key);
    });
    return details;
  });
  const note = scope.source === "checkpoint" ? el("p", { class: "muted" }, "From the checkpoint: names, types and sizes only.") : null;
  fill(box, note, ...(rows.length ? rows : [el("p", { class: "muted" }, "The scope is empty.")]));
}

// -- history ------------------------------------------------------------------------------------

function sentText(text) {
  // The marker line the server put where it cut the output is shown as such.
  const pre = el("pre", { class: "sent" });
  for (const line of text.split("\n")) {
    if (/^\[… [\d,]+ characters cut here;.*…\]$/.test(line)) pre.append(el("mark", { class: "cut" }, line));  // a block: its own line
    else pre.append(line + "\n");
  }
  return pre;
}

function renderExecution(e) {
  const base = API + "/" + encodeURIComponent(state.current) + "/history/" + e.number + "/output";
  const full = el("div", { class: "column" },
    el("h4", {}, "Full output · " + num(e.output_chars) + " chars kept in the kernel"),
    el("pre", { class: "output" }, e.output || "(no output)"),
    e.output_complete ? null : el("a", { href: base, target: "_blank", rel: "noopener" }, "whole output (" + num(e.output_chars) + " chars)"));
  const sent = el("div", { class: "column" },
    el("h4", {}, e.sent.length ? "Sent to the model · " + num(e.sent.reduce((a, s) => a + s.chars, 0)) + " chars" +
      (e.sent.some((s) => s.cut) ? " · cut" : "") : "Sent to the model"),
    ...(e.sent.length ? e.sent.map((s) => sentText(s.text)) : [el("p", { class: "muted" }, "No reply recorded (a sub-agent's or an earlier version's).")]));
  return el("article", { class: "execution" + (e.failed ? " failed" : ""), "data-number": e.number },
    el("h3", {}, "[" + e.number + "]", el("span", { class: "muted" }, " " + secs(e.seconds) +
      (e.sent.length ? " · replied " + new Date(e.sent[0].time * 1000).toLocaleTimeString() : "")),
      e.failed ? el("span", { class: "badge failed" }, "error") : null,
      e.sent.some((s) => s.cut) ? el("span", { class: "badge cut" }, "cut") : null),
    el("pre", { class: "code" }, highlightPython(e.code)),
    el("div", { class: "columns" }, full, sent));
}

function renderHistory(box) {
  const items = state.history.map(renderExecution);
  const older = state.historyMore ? el("button", { onclick: loadOlder }, "Older executions") : null;
  fill(box, ...(items.length ? items : [el("p", { class: "muted" }, "No executions yet.")]), older);
  requestAnimationFrame(() => scrollToCuts(box));
}

// Each cut reply opens at its cut, the place where it differs from the full output (once it is
// shown: a hidden tab has no layout to scroll).
function scrollToCuts(box) {
  for (const mark of box.querySelectorAll("pre.sent mark.cut")) {
    const pre = mark.parentElement;
    if (!pre.dataset.scrolled && pre.clientHeight) {
      pre.scrollTop = Math.max(mark.offsetTop - pre.offsetTop - pre.clientHeight / 3, 0);
      pre.dataset.scrolled = "1";
    }
  }
}

async function loadOlder() {
  const last = state.history[state.history.length - 1];
  const url = API + "/" + encodeURIComponent(state.current) + "/history?limit=50&before=" + last.number;
  const got = await getJSON(url);
  if (!got.body) return;
  state.history = state.history.concat(got.body.executions);
  state.historyMore = got.body.more;
  renderHistory(document.getElementById("tab-history"));
}

// -- agents -------------------------------------------------------------------------------------

function agentLine(a) {
  const u = a.usage || {};
  return el("div", { class: "agent-line" },
    el("b", {}, a.name), el("span", { class: "badge " + a.status }, a.status),
    el("span", { class: "muted" }, " turn " + a.turns + "/" + a.max_turns + " · " + num(u.input_tokens) + " in / " +
      num(u.output_tokens) + " out tokens · " + secs(u.wall_seconds)),
    a.reason ? el("div", { class: "reason" }, a.reason) : null);
}

function agentTree(nodes) {
  return el("ul", { class: "tree" }, ...nodes.map((a) =>
    el("li", {},
      el("button", { class: "agent" + (state.agent === a.id ? " selected" : ""), "data-agent": a.name, onclick: () => loadAgent(a.id, true) },
        agentLine(a)),
      a.children.length ? agentTree(a.children) : null)));
}

function renderAgents(box, nodes) {
  const panel = el("div", { class: "agent-detail" });
  if (state.agentRecord) renderAgentDetail(panel, state.agentRecord);
  else panel.append(el("p", { class: "muted" }, nodes.length ? "Choose an agent to see its transcript." : ""));
  fill(box,
    el("div", { class: "agents" }, nodes.length ? agentTree(nodes) : el("p", { class: "muted" }, "No sub-agents yet.")),
    panel);
}

async function loadAgent(id, render) {
  state.agent = id;
  const got = await getJSON(API + "/" + encodeURIComponent(state.current) + "/agents/" + id);
  state.agentRecord = got.body || null;
  if (render) renderAgents(document.getElementById("tab-agents"), state.detail.agents);
}

function renderAgentDetail(panel, a) {
  const turns = a.transcript.map((t) => el("details", { class: "turn", open: "" },
    el("summary", {}, "Turn " + t.number + (t.code ? "" : " (no code)")),
    el("pre", { class: "model-text" }, t.text),
    t.code ? el("pre", { class: "code" }, highlightPython(t.code)) : null,
    t.code ? el("pre", { class: "output" }, t.output || "(no output)") : null,
    t.output_chars > t.output.length ? el("p", { class: "muted" }, "first " + num(t.output.length) + " of " + num(t.output_chars) + " chars") : null));
  fill(panel,
    el("h3", {}, a.name, " ", el("span", { class: "badge " + a.status }, a.status)),
    el("dl", {},
      el("dt", {}, "Task"), el("dd", {}, el("pre", {}, a.task)),
      el("dt", {}, "Inputs"), el("dd", {}, a.inputs.length ? a.inputs.join(", ") : "none"),
      el("dt", {}, "Model"), el("dd", {}, a.model || ""),
      a.reason ? el("dt", {}, "Why it ended") : null, a.reason ? el("dd", { class: "reason" }, a.reason) : null,
      a.result !== null ? el("dt", {}, "Result") : null, a.result !== null ? el("dd", {}, el("pre", {}, a.result)) : null),
    el("h4", {}, "Transcript"), ...turns);
}

// -- start --------------------------------------------------------------------------------------

async function tick() {
  const pulse = document.getElementById("pulse");
  try {
    await pollSessions();
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (wanted && wanted !== state.current) select(wanted);
    else if (!state.current && state.sessions.length === 1) location.hash = encodeURIComponent(state.sessions[0].id);
    else await pollSession();
    pulse.className = "ok";
  } catch (error) {
    pulse.className = "down";
    pulse.title = "the viewer cannot reach the server: " + error;
  }
  setTimeout(tick, POLL_MS);
}

window.addEventListener("hashchange", () => select(decodeURIComponent(location.hash.slice(1))));
tick();
