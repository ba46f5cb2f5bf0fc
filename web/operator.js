// The operator page: the fleet's devices and this node's request stages (refreshed every 2 s), catalog stats and the
// match tester.
import { $, api, el, fmtTime, loginForm } from "/web/common.js";

let timer = null;

async function devices() {
  try {
    const d = await api("GET", "/api/devices");
    $("device-count").textContent = `(${d.count})`;
    $("devices").replaceChildren(...d.devices.map((x) => el("tr", { "data-device": x.device_id },
      el("td", {}, x.device_id), el("td", {}, x.node), el("td", {}, x.state),
      el("td", {}, x.now_playing ? x.now_playing.title : ""), el("td", {}, x.now_playing ? fmtTime(x.now_playing.position_ms) : ""),
      el("td", {}, x.last_request || ""), el("td", {}, x.last_match || ""),
      el("td", {}, x.transport), el("td", {}, x.board || ""), el("td", {}, x.firmware || ""),
      el("td", {}, x.last_ota_at ? new Date(x.last_ota_at * 1000).toLocaleString() : ""),
      el("td", {}, x.status && x.status.signal ? x.status.signal : ""),
      el("td", {}, x.status && x.status.battery != null ? `${x.status.battery}%${x.status.charging ? " ⚡" : ""}` : ""))));
  } catch (e) { $("device-count").textContent = e.message; }
}

const STAGE_SPAN = {
  asr: "end of speech → transcript", understand: "transcript → decision",
  tts: "decision → first spoken frame", song: "decision → first song frame",
};

function fmtSeconds(s) { return s == null ? "–" : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`; }

async function latency() {
  try {
    const d = await api("GET", "/api/latency");
    $("latency-node").textContent = `(node ${d.node})`;
    $("latency").replaceChildren(...d.stages.map((x) => el("tr", { "data-stage": x.stage },
      el("td", {}, x.stage), el("td", {}, STAGE_SPAN[x.stage] || ""), el("td", {}, x.count),
      el("td", {}, fmtSeconds(x.p50)), el("td", {}, fmtSeconds(x.p99)))));
  } catch (e) { $("latency-node").textContent = e.message; }
}

async function refresh() { await Promise.all([devices(), latency()]); }

async function catalog() {
  const c = await api("GET", "/api/catalog");
  $("catalog-total").textContent = `${c.tracks} items: ${c.songs} songs, ${c.stories} stories`;
  $("catalog").replaceChildren(...c.collections.map((x) => el("tr", {}, el("td", {}, x.kind), el("td", {}, x.collection), el("td", {}, x.tracks))));
}

async function match(ev) {
  ev.preventDefault();
  const text = $("utterance").value.trim();
  if (!text) return;
  try {
    const r = await api("POST", "/api/match", { text });
    const rows = ["intent", "match_type", "score", "kind", "collection", "title", "speech"].map((k) => el("tr", {}, el("th", {}, k), el("td", { id: `m-${k}` }, r[k] ?? "")));
    // What the words were read as (the Request the decision was made on), as `app.py match` prints it.
    const heard = Object.entries(r.request || {}).map(([k, v]) => el("tr", {}, el("th", {}, `request ${k}`), el("td", { id: `m-request-${k}` }, Array.isArray(v) ? v.join(", ") : String(v ?? ""))));
    $("match-result").replaceChildren(...rows, ...heard);
  } catch (e) { $("match-result").replaceChildren(el("tr", {}, el("td", { class: "err" }, e.message))); }
}

window.addEventListener("DOMContentLoaded", () => {
  loginForm(async () => {
    await catalog().catch((e) => { $("catalog-total").textContent = e.message; });
    await refresh();
    clearInterval(timer);
    timer = setInterval(refresh, 2000);
  });
  $("match").addEventListener("submit", match);
});
