// A Xiaozhi device in the browser: OTA, then the WebSocket protocol v1 (JSON + raw Opus frames of 60 ms), the
// microphone encoded with WebCodecs AudioEncoder, the speaker decoded with AudioDecoder through a jitter buffer.
import { $, el } from "/web/common.js";

const RATE = 16000, FRAME = 960;          // 60 ms at 16 kHz
const JITTER_S = 0.18;                    // three frames buffered before sound starts
const UTTER = { pause: "pause", resume: "continue", next: "next", stop: "stop" };

let ws = null, sessionId = "", audioCtx = null, decoder = null, playAt = 0, volume = 60;
let mic = null;
// What the page decoded, for checking the sound (kept to the last 60 s).
window.__device = { decoded: [], frames: 0, messages: [], state: "offline", rate: RATE };

function log(dir, text) {
  const line = `${new Date().toISOString().slice(11, 23)} ${dir} ${text}`;
  const box = $("log");
  box.append(el("div", {}, line));
  while (box.childElementCount > 500) box.firstChild.remove();
  box.scrollTop = box.scrollHeight;
}

function setState(s) { $("state").textContent = s; window.__device.state = s; }

function deviceId() {
  let id = localStorage.getItem("xz-device-id");
  if (!id) {
    const b = crypto.getRandomValues(new Uint8Array(3));
    id = "web:" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
    localStorage.setItem("xz-device-id", id);
  }
  return id;
}

function clientId() {
  let id = localStorage.getItem("xz-client-id");
  if (!id) { id = crypto.randomUUID(); localStorage.setItem("xz-client-id", id); }
  return id;
}

function send(obj) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  if (sessionId) obj.session_id = sessionId;
  const text = JSON.stringify(obj);
  ws.send(text);
  log("→", text);
}

function ask(text) {
  send({ type: "listen", state: "start", mode: "manual" });
  send({ type: "listen", state: "detect", text });
}

// ------------------------------------------------------------------------------------------- speaker

function speaker() {
  if (!audioCtx) audioCtx = new AudioContext({ sampleRate: 48000 });
  if (audioCtx.state === "suspended") audioCtx.resume();
  if (!decoder || decoder.state === "closed") {
    decoder = new AudioDecoder({ output: play, error: (e) => log("!", `decoder: ${e.message}`) });
    decoder.configure({ codec: "opus", sampleRate: RATE, numberOfChannels: 1 });
  }
}

function play(data) {
  if (!audioCtx) { data.close(); return; }     // stopped: frames still in the decoder are dropped
  const n = data.numberOfFrames;
  const pcm = new Float32Array(n);
  data.copyTo(pcm, { planeIndex: 0, format: "f32-planar" });
  const rate = data.sampleRate;
  data.close();
  const d = window.__device;
  d.rate = rate; d.decoded.push(pcm);
  if (d.decoded.length > 1000) d.decoded.shift();
  const buf = audioCtx.createBuffer(1, n, rate);
  buf.copyToChannel(pcm, 0);
  const src = audioCtx.createBufferSource();
  src.buffer = buf;
  const gain = audioCtx.createGain();
  gain.gain.value = volume / 100;
  src.connect(gain).connect(audioCtx.destination);
  const now = audioCtx.currentTime;
  if (playAt < now) playAt = now + JITTER_S;          // (re)start or underrun: buffer a little first
  src.start(playAt);
  playAt += n / rate;
  $("buffered").textContent = Math.round((playAt - now) * 1000);
}

function onAudio(buf) {
  speaker();
  const d = window.__device;
  decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: d.frames * 60000, data: new Uint8Array(buf) }));
  d.frames += 1;
  $("frames").textContent = d.frames;
}

function flushSpeaker() {          // tts stop after an abort: drop what is queued
  playAt = 0;
  if (audioCtx) { audioCtx.close(); audioCtx = null; }
}

// ------------------------------------------------------------------------------------------- messages

function onMessage(text) {
  log("←", text);
  let msg;
  try { msg = JSON.parse(text); } catch { return; }
  window.__device.messages.push(msg);
  if (window.__device.messages.length > 2000) window.__device.messages.shift();
  if (msg.type === "hello") { sessionId = msg.session_id || ""; setState("idle"); }
  else if (msg.type === "stt") $("stt").textContent = msg.text || "";
  else if (msg.type === "tts") {
    if (msg.state === "start") setState("speaking");
    else if (msg.state === "stop") setState("idle");
    else if (msg.state === "sentence_start") $("tts").textContent = msg.text || "";
  } else if (msg.type === "mcp") onMcp(msg.payload || {});
}

// The device's MCP server, as the firmware has it: the status and volume tools.
function onMcp(p) {
  if (p.id == null) return;
  let result;
  if (p.method === "initialize") result = { protocolVersion: "2024-11-05", capabilities: { tools: {} }, serverInfo: { name: "web-device", version: "1.0" } };
  else if (p.method === "tools/list") result = { tools: [
    { name: "self.get_device_status", description: "speaker volume", inputSchema: { type: "object", properties: {} } },
    { name: "self.audio_speaker.set_volume", description: "set the speaker volume 0-100",
      inputSchema: { type: "object", properties: { volume: { type: "integer" } }, required: ["volume"] } }] };
  else if (p.method === "tools/call") {
    const name = p.params && p.params.name, args = (p.params && p.params.arguments) || {};
    if (name === "self.audio_speaker.set_volume" && Number.isInteger(args.volume)) {
      volume = Math.max(0, Math.min(100, args.volume));
      $("volume").textContent = volume;
      result = { content: [{ type: "text", text: "true" }], isError: false };
    } else result = { content: [{ type: "text", text: JSON.stringify({ audio_speaker: { volume } }) }], isError: false };
  } else return;
  send({ type: "mcp", payload: { jsonrpc: "2.0", id: p.id, result } });
}

// ------------------------------------------------------------------------------------------- connection

async function connect() {
  const id = $("device-id").value.trim().toLowerCase() || deviceId();
  localStorage.setItem("xz-device-id", id);
  speaker();                            // inside the click: browsers allow sound from here on
  setState("connecting");
  let url, token = $("device-token").value.trim();
  try {
    const r = await fetch("/xiaozhi/ota/", { method: "POST", headers: { "Device-Id": id, "Client-Id": clientId(), "Content-Type": "application/json" },
      body: JSON.stringify({ application: { version: "web-1.0" }, board: { type: "browser" } }) });
    const cfg = await r.json();
    url = cfg.websocket.url;
    token = token || cfg.websocket.token || "";
    log("·", `OTA: ${url}`);
  } catch (e) { log("!", `OTA failed: ${e.message}`); setState("offline"); return; }
  const q = new URLSearchParams({ "device-id": id, "client-id": clientId(), "protocol-version": "1" });
  if (token) q.set("authorization", `Bearer ${token}`);
  ws = new WebSocket(`${url}${url.includes("?") ? "&" : "?"}${q}`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    send({ type: "hello", version: 1, transport: "websocket", features: { mcp: true },
      audio_params: { format: "opus", sample_rate: RATE, channels: 1, frame_duration: 60 } });
    buttons(true);
  };
  ws.onmessage = (ev) => (typeof ev.data === "string" ? onMessage(ev.data) : onAudio(ev.data));
  ws.onclose = (ev) => { log("·", `closed ${ev.code} ${ev.reason}`); setState("offline"); buttons(false); ws = null; };
}

function buttons(on) {
  for (const id of ["send", "talk", "pause", "resume", "next", "stop", "disconnect"]) $(id).disabled = !on;
  $("connect").disabled = on;
}

// ------------------------------------------------------------------------------------------- microphone

async function talkStart() {
  if (mic) return;
  mic = { stopping: false };
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
    const ctx = new AudioContext({ sampleRate: RATE });
    const source = ctx.createMediaStreamSource(stream);
    const proc = ctx.createScriptProcessor(4096, 1, 1);
    let sent = 0, pending = new Float32Array(0), ts = 0;
    const encoder = new AudioEncoder({
      output: (chunk) => {
        const b = new Uint8Array(chunk.byteLength); chunk.copyTo(b);
        if (ws && ws.readyState === WebSocket.OPEN) { ws.send(b); sent += 1; $("mic-status").textContent = `mic: ${sent} frames sent`; }
      },
      error: (e) => log("!", `encoder: ${e.message}`) });
    encoder.configure({ codec: "opus", sampleRate: RATE, numberOfChannels: 1, bitrate: 24000, opus: { frameDuration: 60000, application: "voip" } });
    proc.onaudioprocess = (ev) => {
      const input = ev.inputBuffer.getChannelData(0);
      const joined = new Float32Array(pending.length + input.length);
      joined.set(pending); joined.set(input, pending.length);
      let off = 0;
      for (; off + FRAME <= joined.length; off += FRAME) {
        encoder.encode(new AudioData({ format: "f32", sampleRate: RATE, numberOfFrames: FRAME, numberOfChannels: 1,
          timestamp: ts, data: joined.slice(off, off + FRAME) }));
        ts += 60000;
      }
      pending = joined.slice(off);
    };
    source.connect(proc); proc.connect(ctx.destination);
    Object.assign(mic, { stream, ctx, proc, encoder });
    send({ type: "listen", state: "start", mode: "manual" });
    setState("listening");
    if (mic.stopping) talkStop();
  } catch (e) { log("!", `microphone: ${e.message}`); mic = null; }
}

async function talkStop() {
  if (!mic) return;
  if (!mic.encoder) { mic.stopping = true; return; }
  const m = mic; mic = null;
  m.proc.disconnect();
  m.stream.getTracks().forEach((t) => t.stop());
  try { await m.encoder.flush(); } catch { /* closed meanwhile */ }
  m.encoder.close(); m.ctx.close();
  send({ type: "listen", state: "stop" });
}

// ------------------------------------------------------------------------------------------- wiring

window.addEventListener("DOMContentLoaded", () => {
  $("device-id").value = deviceId();
  $("connect").addEventListener("click", connect);
  $("disconnect").addEventListener("click", () => ws && ws.close(1000, "bye"));
  $("ask").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("text").value.trim();
    if (t) { speaker(); ask(t); $("text").value = ""; }
  });
  for (const [id, words] of Object.entries(UTTER)) $(id).addEventListener("click", () => { if (id === "stop") flushSpeaker(); ask(words); });
  const talk = $("talk");
  talk.addEventListener("pointerdown", (ev) => { ev.preventDefault(); talkStart(); });
  for (const t of ["pointerup", "pointerleave"]) talk.addEventListener(t, () => talkStop());
});
