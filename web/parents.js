// The parents' page: bedtime per weekday, daily limit, volume cap, collections and tags, default sleep timer,
// the listening history and who changed what. Everything goes through /api/devices/{id}/policy and /history.
import { $, api, el, fmtTime, loginForm } from "/web/common.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
let device = "";
let rev = null;          // the revision of the rules on screen: a save says so, and is refused if they changed since

function fillSelect(sel, names, chosen) {
  sel.replaceChildren(...names.map((n) => { const o = el("option", { value: n }, n); o.selected = chosen.includes(n); return o; }));
}
const picked = (sel) => Array.from(sel.selectedOptions, (o) => o.value);
const num = (v) => (v.trim() === "" ? null : Number(v));

function render(data) {
  rev = data.rev;
  const p = data.policy;
  const days = $("days");
  days.replaceChildren(el("b", {}, "day"), el("b", {}, "quiet from"), el("b", {}, "until"));
  for (const d of DAYS) {
    const w = p.bedtime[d] || {};
    days.append(el("span", {}, d), el("input", { type: "time", id: `bed-${d}-start`, value: w.start || "" }),
      el("input", { type: "time", id: `bed-${d}-end`, value: w.end || "" }));
  }
  fillSelect($("sleep"), data.collections, p.sleep_collections);
  fillSelect($("allowed"), data.collections, p.allowed_collections);
  fillSelect($("blocked"), data.tags, p.blocked_tags);
  $("limit").value = p.daily_limit_min ?? ""; $("maxvol").value = p.max_volume ?? ""; $("timer").value = p.sleep_timer_min ?? "";
  $("today").textContent = `Listened today: ${Math.round(data.listened_today_s / 60)} min` +
    (data.bedtime_now ? " · quiet time now" : "") + (data.live ? " · connected" : " · not connected");
  $("audit").replaceChildren(...data.audit.map((a) => el("tr", {},
    el("td", {}, new Date(a.at * 1000).toLocaleString()), el("td", {}, `${a.who} (${a.from})`),
    el("td", {}, Object.entries(a.changes).map(([k, [o, n]]) => `${k}: ${JSON.stringify(o)} → ${JSON.stringify(n)}`).join("; ")))));
}

async function load() {
  render(await api("GET", `/api/devices/${encodeURIComponent(device)}/policy`));
  const h = await api("GET", `/api/devices/${encodeURIComponent(device)}/history`);
  $("history").replaceChildren(...h.history.map((x) => el("tr", {},
    el("td", {}, new Date(x.started_at * 1000).toLocaleString()), el("td", {}, `${x.title} (${x.kind})`),
    el("td", {}, fmtTime(x.position_ms)), el("td", {}, x.finished ? "yes" : "no"))));
  $("favourites").replaceChildren(...h.favourites.map((f) => el("li", {}, f.title)));
}

async function save(ev) {
  ev.preventDefault();
  const bedtime = {};
  for (const d of DAYS) {
    const s = $(`bed-${d}-start`).value, e = $(`bed-${d}-end`).value;
    if (s || e) bedtime[d] = { start: s, end: e };
  }
  const body = { bedtime, sleep_collections: picked($("sleep")), daily_limit_min: num($("limit").value),
    max_volume: num($("maxvol").value), allowed_collections: picked($("allowed")), blocked_tags: picked($("blocked")),
    sleep_timer_min: num($("timer").value), utc_offset_min: -new Date().getTimezoneOffset() };
  const status = $("save-status");
  const applied = (r) => r.applied === "live" ? "applied now"
    : r.applied === "pending" ? `reaches the speaker within ${r.reaches_device_within_s} s` : "applies when it connects";
  try {
    const r = await api("PUT", `/api/devices/${encodeURIComponent(device)}/policy`, body,
      rev === null ? {} : { "If-Match": `"${rev}"` });
    status.textContent = `saved (${applied(r)})`; status.className = "ok";
    await load();
  } catch (e) {
    status.textContent = e.message; status.className = "err";
    if (e.status === 409 && e.data && e.data.policy) await load();     // show what stands now
  }
}

window.addEventListener("DOMContentLoaded", () => {
  $("device").value = sessionStorage.getItem("xz-parent-device") || localStorage.getItem("xz-device-id") || "";
  loginForm(async () => {
    device = $("device").value.trim().toLowerCase();
    sessionStorage.setItem("xz-parent-device", device);
    try { await load(); } catch (e) { $("login-status").textContent = e.message; $("login-status").className = "err"; }
  });
  $("rules").addEventListener("submit", save);
});
