// Positron's lookup page: pick a query, type a value (and a time), see the merged answer, the alternatives, the
// conflict and what each provider did. It only calls Positron's own API (/v1/queries) with the key the analyst
// typed, kept in sessionStorage (this tab only). Everything is put on the page with textContent, never as HTML:
// answers come from other systems and must not run as code. Loaded as a file: the page's CSP has no 'unsafe-inline'.
"use strict";

const KEY_ITEM = "positron.apiKey";
const $ = (id) => document.getElementById(id);
let queries = new Map();

function storedKey() {
  return sessionStorage.getItem(KEY_ITEM) || "";
}

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function api(path, body) {
  const init = { headers: { Authorization: `Bearer ${storedKey()}` } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && data.error ? data.error.message : `HTTP ${response.status}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return data;
}

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined && text !== null) el.textContent = String(text);
  if (className) el.className = className;
  return el;
}

function show(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.map(show).join(", ");
  if (typeof value === "object") {
    return Object.entries(value)
      .filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
      .join(" · ");
  }
  return String(value);
}

function sources(answer) {
  return answer.sources
    .map((s) => `${s.provider}${s.source_ref ? ` (${s.source_ref})` : ""}${s.observed_at ? `, seen ${s.observed_at}` : ""}`)
    .join("; ");
}

function renderResult(result) {
  $("result").hidden = false;
  $("result-title").textContent = `${result.query} ${result.value}${result.at ? ` at ${result.at}` : ""}`;
  const conflict = $("conflict");
  conflict.hidden = !result.conflict;
  conflict.textContent = result.conflict
    ? `Conflict: ${(result.conflict_providers || []).join(", ") || "independent sources"} disagree about the value at this time — check the alternatives and their sources.`
    : "";
  const answer = $("answer");
  answer.replaceChildren();
  if (result.answer) {
    answer.className = "answer";
    answer.append(element("span", show(result.answer.value), "value"));
    answer.append(element("span", `confidence ${result.answer.confidence.toFixed(2)}`, "confidence"));
    answer.append(element("p", `from ${sources(result.answer)}`, "sources"));
  } else {
    answer.className = "answer none";
    answer.textContent = "No provider found an answer.";
  }
  const alternatives = $("alternatives");
  alternatives.replaceChildren();
  for (const alt of result.answers.slice(1)) {
    const item = element("li", undefined, "alt");
    item.append(element("span", show(alt.value), "value"));
    item.append(element("span", `confidence ${alt.confidence.toFixed(2)}`, "confidence"));
    item.append(element("p", `from ${sources(alt)}`, "sources"));
    alternatives.append(item);
  }
  if (result.answers.length < 2) alternatives.append(element("li", "none", "none"));
  const rows = $("providers").tBodies[0];
  rows.replaceChildren();
  for (const p of result.providers) {
    const row = document.createElement("tr");
    row.dataset.provider = p.name;
    const note = p.error || (p.cached ? `cached${p.age_s !== null ? `, ${p.age_s} s old` : ""}` : "");
    row.append(element("td", p.name), element("td", p.type), element("td", p.status, `status-${p.status}`));
    row.append(element("td", p.elapsed_ms), element("td", note));
    rows.append(row);
  }
  if (result.providers.length === 0) {
    const row = document.createElement("tr");
    const cell = element("td", "No configured provider answers this query.");
    cell.colSpan = 5;
    row.append(cell);
    rows.append(row);
  }
}

function describeQuery() {
  const info = queries.get($("query").value);
  $("query-help").textContent = info ? `${info.description} Expects ${info.input_expected}.` : "";
  $("at").disabled = !(info && info.accepts_at);
  if ($("at").disabled) $("at").value = "";
}

async function loadQueries() {
  const select = $("query");
  try {
    const list = await api("/v1/queries");
    queries = new Map(list.map((q) => [q.name, q]));
    const previous = select.value;
    select.replaceChildren(...list.map((q) => element("option", q.name)));
    if (queries.has(previous)) select.value = previous;
    select.disabled = $("run").disabled = list.length === 0;
    $("key-forget").hidden = false;
    $("key-state").textContent = `Key in use for this tab (sessionStorage). ${list.length} queries available.`;
    setStatus(list.length ? "" : "This key may run no query: ask an admin for a group.", list.length === 0);
    describeQuery();
  } catch (error) {
    select.replaceChildren();
    select.disabled = $("run").disabled = true;
    setStatus(`Could not list the queries: ${error.message}`, true);
  }
}

async function lookup(event) {
  event.preventDefault();
  const name = $("query").value;
  const body = { value: $("value").value.trim() };
  const at = $("at").value.trim();
  if (at) body.at = at;
  $("run").disabled = true;
  setStatus(`Asking every provider for ${name}…`, false);
  try {
    const result = await api(`/v1/queries/${encodeURIComponent(name)}`, body);
    renderResult(result);
    setStatus(`${result.providers.length} provider(s) asked in ${result.took_ms} ms.`, false);
  } catch (error) {
    $("result").hidden = true;
    setStatus(error.message, true);
  } finally {
    $("run").disabled = false;
  }
}

function useKey(event) {
  event.preventDefault();
  const key = $("key").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_ITEM, key);
  $("key").value = "";
  loadQueries();
}

function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
  queries = new Map();
  $("query").replaceChildren();
  $("query").disabled = $("run").disabled = true;
  $("key-forget").hidden = true;
  $("result").hidden = true;
  $("key-state").textContent = "Key forgotten. Kept in this browser tab only (sessionStorage) once given.";
  setStatus("", false);
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", useKey);
  $("key-forget").addEventListener("click", forgetKey);
  $("lookup-form").addEventListener("submit", lookup);
  $("query").addEventListener("change", describeQuery);
  if (storedKey()) loadQueries();
});
