// The parents' page, for a phone first: sign in once (the password stays in this tab's sessionStorage, sent in a
// header, never a cookie), pick one of the household's speakers by name, then its rules as plain controls (a
// weekly bedtime grid, switches, chips), the listening diary and the change log in words. Nothing is editable
// before sign-in: the sections after it are hidden and empty until the server has said who this is.
// API: /api/whoami, /api/household, /api/devices/{id}/policy, /history and /name (docs/api.md).
import { $, api, clearToken, el, setToken, token } from "/web/common.js";
import { DAYS, DAY_NAMES, SHORT, clock, diary, sentence, when } from "/web/parents-words.js";

const NAME_KEY = "xz-parent-name";         // who this is ("Mum"): not a secret, remembered on this browser
const DEVICE_KEY = "xz-parent-device";     // the speaker picked in this tab
const FALLBACK = { limit: 60, maxvol: 70, timer: 30 };   // what a switch turned on starts from
let me = "";
let devices = [];
let device = "";
let rev = null;          // the revision of the rules on screen: a save names it and is refused if they changed since
let deviceName = "";

// What went wrong, said to a parent: what to do, or what to ask whoever runs the speaker server.
function explain(e) {
  if (e.status === undefined) return "The speaker server does not answer. Check that it is running and that this phone is on the same network, then try again.";
  if (e.status === 404 && e.data && /API is off/.test(e.data.error || "")) {
    return "Parents' controls are not switched on for this speaker server yet. Ask whoever runs it to set a " +
      "parents' password (PARENT_TOKEN) and restart it, then sign in here with that password.";
  }
  if (e.status === 401) return "That password was not accepted. Check it with whoever runs the speaker server (it is the PARENT_TOKEN they set).";
  if (e.status === 429) return `Too many wrong passwords from this network. Wait ${(e.data && e.data.retry_after_s) || 60} seconds, then try again.`;
  if (e.status === 403) return "This password may not manage that speaker. Ask whoever runs the speaker server to add it to your household (PARENT_DEVICES).";
  if (e.status === 503) return "The speaker server could not store that just now; nothing was changed. Try again in a moment.";
  if (e.status >= 500) return `The speaker server ran into a problem (reference ${(e.data && e.data.request_id) || e.status}). Try again; if it keeps happening, tell whoever runs it.`;
  return e.message;
}

function say(id, text, ok) { const n = $(id); n.textContent = text; n.className = ok ? "ok" : text ? "err" : ""; }

function showSignedIn(on) {
  $("signin").hidden = on;
  $("household").hidden = !on;
  if (!on) for (const s of document.querySelectorAll(".for-device")) s.hidden = true;
}

// ------------------------------------------------------------------------------------------------ sign-in

async function signIn(ev) {
  ev.preventDefault();
  const t = $("token").value.trim();
  if (!t) { say("login-status", "Type the household password."); return; }
  me = $("me").value.trim().slice(0, 40);
  localStorage.setItem(NAME_KEY, me);
  setToken(t);
  await enter();
}

async function enter() {
  say("login-status", "Signing in…", true);
  try {
    await api("GET", "/api/whoami");
  } catch (e) {
    clearToken();
    showSignedIn(false);
    say("login-status", explain(e));
    return;
  }
  $("token").value = "";
  say("login-status", "");
  $("signed-in").textContent = me ? `Signed in as ${me}` : "Signed in";
  showSignedIn(true);
  await household();
}

function signOut() {
  clearToken();
  sessionStorage.removeItem(DEVICE_KEY);
  device = ""; devices = []; rev = null;
  for (const id of ["devices", "week", "sleep", "allowed", "blocked", "diary", "favourites", "changes"]) $(id).replaceChildren();
  showSignedIn(false);
  say("login-status", "Signed out.", true);
}

// ------------------------------------------------------------------------------------------------ the speakers

function statusLine(d) {
  const parts = [d.live ? (d.now_playing ? `playing ${d.now_playing}` : "switched on")
    : d.last_heard_at ? `last heard ${when(d.last_heard_at)}` : "not heard yet"];
  if (d.bedtime_now) parts.push("quiet time");
  return parts.join(" · ");
}

async function household() {
  let h;
  try { h = await api("GET", "/api/household"); } catch (e) { say("household-status", explain(e)); return; }
  say("household-status", "");
  devices = h.devices;
  $("no-devices").hidden = devices.length > 0;
  $("devices").replaceChildren(...devices.map((d) => el("button", {
    type: "button", class: "device", "data-device": d.device_id, "aria-pressed": String(d.device_id === device),
    onclick: () => pick(d.device_id),
  }, el("span", { class: d.name ? "name" : "name unnamed" }, d.name || "Unnamed speaker"),
  el("span", { class: "status" }, statusLine(d)))));
  const remembered = sessionStorage.getItem(DEVICE_KEY);
  const next = devices.some((d) => d.device_id === device) ? device
    : devices.some((d) => d.device_id === remembered) ? remembered : devices.length === 1 ? devices[0].device_id : "";
  if (next && next !== device) await pick(next);
  if (!next) say("household-status", devices.length ? "Pick a speaker." : "", true);
}

async function pick(id) {
  device = id;
  sessionStorage.setItem(DEVICE_KEY, id);
  for (const b of $("devices").children) b.setAttribute("aria-pressed", String(b.dataset.device === id));
  say("household-status", "");
  say("save-status", "");
  $("rename").hidden = true;
  await load(true);
}

// Loads the speaker's rules and diary; `form` false keeps the rules form as the parent left it.
async function load(form) {
  const path = `/api/devices/${encodeURIComponent(device)}`;
  let p, h;
  try { [p, h] = await Promise.all([api("GET", `${path}/policy`), api("GET", `${path}/history`)]); } catch (e) { say("household-status", explain(e)); return; }
  summary(p, h);
  if (form) rulesForm(p);
  changes(p.audit);
  history(h);
  for (const s of document.querySelectorAll(".for-device")) s.hidden = false;
  if (!p.name && form) openRename();           // a speaker without a name: offer to name it first
}

function summary(p, h) {
  deviceName = p.name;
  $("device-title").textContent = p.name || "Unnamed speaker";
  $("device-id").textContent = `Device ${p.device_id}`;
  const mins = Math.round(p.listened_today_s / 60), limit = p.policy.daily_limit_min;
  const parts = [`Listened today: ${mins} min${limit != null ? ` of ${limit}` : ""}`];
  const d = new Date(), later = p.policy.bedtime[DAYS[(d.getDay() + 6) % 7]];
  if (p.bedtime_now) parts.push("quiet time now");
  else if (later && later.start > clock(d)) parts.push(`quiet time from ${later.start}`);    // still to come today
  if (h.now && h.live) parts.push(`playing ${h.now.title}`);
  parts.push(p.live ? "switched on" : "not connected");
  $("today").textContent = parts.join(" · ");
}

// ------------------------------------------------------------------------------------------------ rules

// The quiet span of one night on a noon-to-noon strip (a bedtime reads as one block); split when it crosses noon.
function drawBar(bar, on, start, end) {
  bar.replaceChildren();
  const m = (v) => { const [hh, mm] = v.split(":").map(Number); return hh * 60 + mm; };
  if (!on || !/^\d\d:\d\d$/.test(start) || !/^\d\d:\d\d$/.test(end) || start === end) return;
  const s = m(start), len = (m(end) - s + 1440) % 1440, from = ((s - 720 + 1440) % 1440) / 1440;
  const segments = from + len / 1440 > 1 ? [[from, 1 - from], [0, from + len / 1440 - 1]] : [[from, len / 1440]];
  for (const [left, width] of segments) {
    const seg = el("span");
    seg.style.left = `${(left * 100).toFixed(2)}%`;      // CSSOM, which the page's CSP allows (no style attribute)
    seg.style.width = `${(width * 100).toFixed(2)}%`;
    bar.append(seg);
  }
}

function night(d, w) {
  const on = el("input", { type: "checkbox", id: `bed-${d}-on` });
  const start = el("input", { type: "time", id: `bed-${d}-start`, "aria-label": `${DAY_NAMES[d]}: quiet from` });
  const end = el("input", { type: "time", id: `bed-${d}-end`, "aria-label": `${DAY_NAMES[d]}: quiet until` });
  const bar = el("div", { class: "bar", id: `bed-${d}-bar`, "aria-hidden": "true" });
  on.checked = Boolean(w);
  start.value = w ? w.start : "19:30";
  end.value = w ? w.end : "07:00";
  const update = () => { start.disabled = end.disabled = !on.checked; drawBar(bar, on.checked, start.value, end.value); };
  for (const n of [on, start, end]) { n.addEventListener("input", update); n.addEventListener("change", update); }
  update();
  return el("div", { class: "night", "data-day": d }, el("label", { class: "check", for: `bed-${d}-on` }, on, SHORT[d]),
    start, el("span", { class: "to" }, "–"), end, bar);
}

function chips(box, options, chosen) {
  box.replaceChildren(...options.map((o) => {
    const input = el("input", { type: "checkbox", value: o });
    input.checked = chosen.includes(o);
    return el("label", { class: "chip" }, input, el("span", {}, o));
  }));
  if (!options.length) box.append(el("span", { class: "hint" }, "none in the library"));
}
const picked = (box) => Array.from(box.querySelectorAll("input:checked"), (i) => i.value);

function setting(id, value) {
  $(`${id}-on`).checked = value != null;
  $(id).value = value ?? FALLBACK[id];
  $(id).disabled = value == null;
}

function rulesForm(data) {
  rev = data.rev;
  const p = data.policy;
  $("week").replaceChildren(el("div", { class: "axis", "aria-hidden": "true" },
    el("span", {}, "noon"), el("span", {}, "18:00"), el("span", {}, "midnight"), el("span", {}, "06:00"), el("span", {}, "noon")),
  ...DAYS.map((d) => night(d, p.bedtime[d])));
  chips($("sleep"), data.collections, p.sleep_collections);
  chips($("allowed"), data.collections, p.allowed_collections);
  chips($("blocked"), [...new Set([...data.tags, ...p.blocked_tags])].sort(), p.blocked_tags);
  setting("limit", p.daily_limit_min);
  setting("maxvol", p.max_volume);
  setting("timer", p.sleep_timer_min);
  $("maxvol-out").textContent = $("maxvol").value;
}

function copyFirstNight() {
  const first = DAYS.find((d) => $(`bed-${d}-on`).checked);
  if (!first) { say("save-status", "Tick a night and set its times first."); return; }
  for (const d of DAYS) {
    $(`bed-${d}-on`).checked = true;
    $(`bed-${d}-start`).value = $(`bed-${first}-start`).value;
    $(`bed-${d}-end`).value = $(`bed-${first}-end`).value;
    $(`bed-${d}-on`).dispatchEvent(new Event("change"));
  }
  say("save-status", `${DAY_NAMES[first]}'s times are set for every night; save to keep them.`, true);
}

const LABELS = { bedtime: "Bedtime", sleep_collections: "At bedtime", daily_limit_min: "Daily limit",
  max_volume: "Volume cap", allowed_collections: "Collections", blocked_tags: "Tags", sleep_timer_min: "Sleep timer",
  by: "Your name", name: "Name" };

// "bedtime.sun: start and end are the same time" -> "Sunday: start and end are the same time"
function fieldMessage(e) {
  const field = e.field || "", detail = e.message.includes(": ") ? e.message.slice(e.message.indexOf(": ") + 2) : e.message;
  const day = field.split(".")[1];
  const label = field.startsWith("bedtime.") && DAY_NAMES[day] ? DAY_NAMES[day] : LABELS[field.split(".")[0]];
  return label ? `${label}: ${detail}` : e.message;
}

function amount(id, label) {
  if (!$(`${id}-on`).checked) return null;
  const v = Number($(id).value);
  if ($(id).value.trim() === "" || !Number.isInteger(v)) throw new Error(`${label}: type a whole number of minutes`);
  return v;
}

async function save(ev) {
  ev.preventDefault();
  let body;
  try {
    const bedtime = {};
    for (const d of DAYS) {
      if (!$(`bed-${d}-on`).checked) continue;
      const start = $(`bed-${d}-start`).value, end = $(`bed-${d}-end`).value;
      if (!start || !end) throw new Error(`${DAY_NAMES[d]}: give the time quiet time starts and ends`);
      bedtime[d] = { start, end };
    }
    body = { bedtime, sleep_collections: picked($("sleep")), daily_limit_min: amount("limit", "Daily limit"),
      max_volume: $("maxvol-on").checked ? Number($("maxvol").value) : null, allowed_collections: picked($("allowed")),
      blocked_tags: picked($("blocked")), sleep_timer_min: amount("timer", "Sleep timer"),
      utc_offset_min: -new Date().getTimezoneOffset() };
  } catch (e) { say("save-status", e.message); return; }
  if (me) body.by = me;
  const reach = (r) => r.applied === "live" ? "The speaker has them now."
    : r.applied === "pending" ? `They reach the speaker within ${r.reaches_device_within_s} s.`
      : "They apply when the speaker next switches on.";
  say("save-status", "Saving…", true);
  try {
    const r = await api("PUT", `/api/devices/${encodeURIComponent(device)}/policy`, body,
      rev === null ? {} : { "If-Match": `"${rev}"` });
    say("save-status", `Saved. ${reach(r)}`, true);
    await load(true);
    await household();
  } catch (e) {
    if (e.status === 409) {
      say("save-status", `Someone else changed these rules meanwhile (see Changes), so nothing was saved. Here is what stands now: make your change again.`);
      await load(true);
    } else say("save-status", e.status === 400 ? fieldMessage(e) : explain(e));
  }
}

// ------------------------------------------------------------------------------------------------ name

function openRename() {
  $("rename").hidden = false;
  $("name").value = deviceName;
  say("rename-status", deviceName ? "" : "Give this speaker a name, so everyone knows which one it is.", true);
}

async function rename(ev) {
  ev.preventDefault();
  try {
    const r = await api("PUT", `/api/devices/${encodeURIComponent(device)}/name`,
      me ? { name: $("name").value, by: me } : { name: $("name").value });
    $("rename").hidden = true;
    const onlyOurs = rev !== null && r.rev === rev + 1;     // nothing else changed: the rules on screen still stand
    if (onlyOurs) rev = r.rev;
    await load(!onlyOurs);
    await household();
  } catch (e) { say("rename-status", e.status === 400 ? fieldMessage(e) : explain(e)); }
}

// ------------------------------------------------------------------------------------------------ diary, changes

function history(h) {
  const days = diary(h.history);
  $("no-diary").hidden = days.length > 0;
  $("diary").replaceChildren(...days.map((day) => el("div", { class: "day" }, el("h3", {}, day.heading),
    el("ul", { class: "plain entries" }, ...day.entries.map((x) => el("li", {},
      el("time", {}, x.time), el("span", { class: "title" }, x.title), el("span", { class: "about" }, x.about)))))));
  $("no-favourites").hidden = h.favourites.length > 0;
  $("favourites").replaceChildren(...h.favourites.map((f) => el("li", {}, f.title)));
}

function changes(audit) {
  $("no-changes").hidden = audit.length > 0;
  $("changes").replaceChildren(...audit.map((a) => el("li", {}, el("span", { class: "what" }, sentence(a)), ", ",
    el("time", {}, when(a.at)))));
}

window.addEventListener("DOMContentLoaded", () => {
  me = localStorage.getItem(NAME_KEY) || "";
  $("me").value = me;
  $("login").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("rules").addEventListener("submit", save);
  $("bed-copy").addEventListener("click", copyFirstNight);
  $("rename-open").addEventListener("click", openRename);
  $("rename-cancel").addEventListener("click", () => { $("rename").hidden = true; });
  $("rename").addEventListener("submit", rename);
  for (const id of ["limit", "maxvol", "timer"]) {
    $(`${id}-on`).addEventListener("change", () => { $(id).disabled = !$(`${id}-on`).checked; });
  }
  $("maxvol").addEventListener("input", () => { $("maxvol-out").textContent = $("maxvol").value; });
  if (token()) enter();              // signed in earlier in this tab: a reload keeps you in
});
