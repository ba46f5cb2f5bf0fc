// The operator page: the fleet's devices (refreshed every 2 s), catalog stats and the match tester.
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
    $("match-result").replaceChildren(...rows);
  } catch (e) { $("match-result").replaceChildren(el("tr", {}, el("td", { class: "err" }, e.message))); }
}

window.addEventListener("DOMContentLoaded", () => {
  loginForm(async () => {
    await catalog().catch((e) => { $("catalog-total").textContent = e.message; });
    await devices();
    clearInterval(timer);
    timer = setInterval(devices, 2000);
  });
  $("match").addEventListener("submit", match);
});
