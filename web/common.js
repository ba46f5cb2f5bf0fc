// Shared by the pages: the API token (kept for this tab only, sent in a header, never a cookie) and API calls.
const KEY = "xz-console-token";

export function token() { return sessionStorage.getItem(KEY) || ""; }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders, "X-Operator-Token": token() };
  const init = { method, headers, credentials: "omit" };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(path, init);
  let data = null;
  try { data = await r.json(); } catch { data = { error: `HTTP ${r.status}` }; }
  if (!r.ok) { const e = new Error(data.error || `HTTP ${r.status}`); e.status = r.status; e.field = data.field; e.data = data; throw e; }
  return data;
}

// Builds DOM from text only (textContent), so catalog titles can never become markup.
export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") n.className = v; else if (k.startsWith("on")) n.addEventListener(k.slice(2), v); else n.setAttribute(k, v);
  }
  for (const c of children) n.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return n;
}

export function $(id) { return document.getElementById(id); }

export function fmtTime(ms) {
  if (ms == null) return "";
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function loginForm(onReady) {
  const input = $("token"), status = $("login-status");
  input.value = token();
  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    try {
      const who = await api("GET", "/api/whoami");
      status.textContent = `signed in as ${who.role}`; status.className = "ok";
      onReady(who);
    } catch (e) { status.textContent = e.message; status.className = "err"; }
  });
}
