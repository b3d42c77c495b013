// quarry playground: plain DOM, no build step. Every value from the server
// is set with textContent; only http(s) citation URLs become links.
"use strict";

const $ = (id) => document.getElementById(id);

function headers(json) {
  const h = {};
  const token = $("token").value.trim();
  if (token) h["Authorization"] = "Bearer " + token;
  if (json) h["Content-Type"] = "application/json";
  return h;
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) {
    const e = data && data.error;
    throw new Error(e ? `${e.message} (${e.code}${e.request_id ? ", request " + e.request_id : ""})` : `HTTP ${response.status}`);
  }
  return data;
}

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (_) {
    return null;
  }
}

function kb() { return encodeURIComponent($("kb").value.trim() || "default"); }

function showAnswer(r) {
  $("answer").hidden = false;
  const verdict = $("verdict");
  verdict.replaceChildren(
    el("span", "badge " + r.decision, r.decision),
    el("span", "score", `confidence ${r.confidence.toFixed(2)}`),
    el("span", "", `language ${r.language}`),
    el("span", "", `${r.timings.total_ms.toFixed(1)} ms`),
  );
  const list = $("passages");
  list.replaceChildren();
  r.passages.forEach((p, i) => {
    const item = el("li", "passage");
    const meta = el("div", "meta");
    const left = el("span");
    if (p.citation) {
      const href = safeUrl(p.citation.url);
      const label = [p.citation.title, ...p.citation.heading_path].filter(Boolean).join(" › ") || p.citation.url;
      const link = el(href ? "a" : "span", "citation", `[${i + 1}] ${label}`);
      if (href) { link.href = href; link.target = "_blank"; link.rel = "noopener noreferrer"; }
      link.title = p.citation.url;
      left.append(link);
    } else {
      left.append(el("span", "", `[${i + 1}] (citations off for this source)`));
    }
    meta.append(left, el("span", "score", `score ${p.score.toFixed(3)}`));
    item.append(meta);
    if (p.question) item.append(el("div", "", "Short answer to: " + p.question));
    item.append(el("div", "text", p.text));
    list.append(item);
  });
  $("insights").textContent = r.insights ? JSON.stringify(r.insights, null, 2) : "(none)";
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  status("Asking…");
  try {
    const body = { query: question, kb: $("kb").value.trim() || "default", explain: true, log: false };
    const topK = parseInt($("top-k").value, 10);
    if (topK > 0) body.top_k = topK;
    const page = $("page-url").value.trim();
    if (page) body.page_url = page;
    const r = await call("POST", "/v1/query", body);
    showAnswer(r);
    status(`${r.passages.length} passages`);
  } catch (e) {
    status(e.message, true);
  }
}

async function suggestions() {
  const url = $("page-url").value.trim();
  if (!url) { status("Enter the page URL first", true); return; }
  try {
    const r = await call("GET", `/v1/kb/${kb()}/suggestions?url=${encodeURIComponent(url)}`);
    const list = $("suggestions");
    list.replaceChildren();
    r.questions.forEach((text) => {
      const item = el("li");
      const button = el("a", "", text);
      button.href = "#";
      button.addEventListener("click", (e) => { e.preventDefault(); $("question").value = text; });
      item.append(button);
      list.append(item);
    });
    $("suggestions-box").hidden = false;
    status("Suggestions loaded");
  } catch (e) {
    status(e.message, true);
  }
}

async function gaps() {
  try {
    const r = await call("GET", `/v1/kb/${kb()}/gaps`);
    const list = $("gap-list");
    list.replaceChildren();
    if (!r.gaps.length) list.append(el("li", "", "No open gaps."));
    r.gaps.forEach((g) => {
      list.append(el("li", "", `${(g.questions || [])[0] || "(gap)"} — asked ${g.count} times (${(g.languages || []).join(", ")})`));
    });
    $("gaps-box").hidden = false;
    status("Gaps loaded");
  } catch (e) {
    status(e.message + " (gaps need an admin token)", true);
  }
}

async function knowledgeBases() {
  try {
    const r = await call("GET", "/v1/kb");
    const list = $("kb-list");
    list.replaceChildren();
    r.knowledge_bases.forEach((k) => { const o = el("option"); o.value = k.name; list.append(o); });
  } catch (_) { /* a query token cannot list them: type the name */ }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = sessionStorage.getItem("quarry-token") || "";
  $("token").addEventListener("change", () => { sessionStorage.setItem("quarry-token", $("token").value); knowledgeBases(); });
  $("ask-form").addEventListener("submit", ask);
  $("suggest").addEventListener("click", suggestions);
  $("gaps").addEventListener("click", gaps);
  knowledgeBases();
});
