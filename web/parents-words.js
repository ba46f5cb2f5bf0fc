// The parents' page in words: the change log as sentences ("Mum lowered the volume cap 80 → 70"), the listening
// history as a diary, times the way a household says them ("today 19:02", "Tue 19:02"). Pure functions over the
// API's JSON that return plain strings; the page puts them in the DOM as text.
import { fmtTime } from "/web/common.js";

export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
export const DAY_NAMES = { mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday",
  sat: "Saturday", sun: "Sunday" };
export const SHORT = { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" };
const BY_GETDAY = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_BY_GETDAY = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
  "November", "December"];

const pad = (n) => String(n).padStart(2, "0");
export const clock = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;

function daysAgo(d, now) {
  const midnight = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  return Math.round((midnight(now) - midnight(d)) / 86_400_000);
}

// "today 19:02", "yesterday 07:15", "Tue 19:02" within the week, "3 Dec 19:02" before.
export function when(at, now = new Date()) {
  const d = new Date(at * 1000), ago = daysAgo(d, now);
  if (ago === 0) return `today ${clock(d)}`;
  if (ago === 1) return `yesterday ${clock(d)}`;
  if (ago > 1 && ago < 7) return `${BY_GETDAY[d.getDay()]} ${clock(d)}`;
  return `${d.getDate()} ${MONTHS[d.getMonth()].slice(0, 3)} ${clock(d)}`;
}

export function dayHeading(d, now = new Date()) {
  const ago = daysAgo(d, now);
  if (ago === 0) return "Today";
  if (ago === 1) return "Yesterday";
  return `${LONG_BY_GETDAY[d.getDay()]} ${d.getDate()} ${MONTHS[d.getMonth()]}`;
}

// "a", "a and b", "a, b and c"
export function list(items) {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

const quoted = (xs) => xs.map((x) => `“${x}”`);

// ["mon","tue","wed","thu","fri"] -> "on Mon–Fri"; all seven -> "every night"; runs of three or more are a range.
export function nights(days) {
  if (days.length === 7) return "every night";
  const idx = days.map((d) => DAYS.indexOf(d)).sort((a, b) => a - b), parts = [];
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1] === idx[j] + 1) j++;
    if (j - i >= 2) parts.push(`${SHORT[DAYS[idx[i]]]}–${SHORT[DAYS[idx[j]]]}`);
    else for (let k = i; k <= j; k++) parts.push(SHORT[DAYS[idx[k]]]);
    i = j + 1;
  }
  return `on ${list(parts)}`;
}

const span = (w) => `${w.start}–${w.end}`;
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function bedtime(old, now) {
  old = old || {}; now = now || {};
  const groups = new Map();                 // the same change on several nights is told once
  for (const d of DAYS) {
    const a = old[d] || null, b = now[d] || null;
    if (same(a, b)) continue;
    const key = JSON.stringify([a, b]);
    if (!groups.has(key)) groups.set(key, { a, b, days: [] });
    groups.get(key).days.push(d);
  }
  return [...groups.values()].map(({ a, b, days }) => !a ? `set quiet time ${span(b)} ${nights(days)}`
    : !b ? `removed quiet time ${nights(days)}` : `moved quiet time ${nights(days)} ${span(a)} → ${span(b)}`);
}

function names(old, now, added, removed) {
  old = old || []; now = now || [];
  const plus = now.filter((x) => !old.includes(x)), minus = old.filter((x) => !now.includes(x)), out = [];
  if (plus.length) out.push(added(quoted(plus)));
  if (minus.length) out.push(removed(quoted(minus)));
  return out;
}

function offset(min) {
  const sign = min < 0 ? "−" : "+", a = Math.abs(min);
  return `UTC${sign}${Math.floor(a / 60)}${a % 60 ? `:${pad(a % 60)}` : ""}`;
}

const PHRASES = {
  bedtime,
  sleep_collections: (o, n) => names(o, n, (x) => `allowed ${list(x)} at bedtime`,
    (x) => `stopped allowing ${list(x)} at bedtime`),
  daily_limit_min: (o, n) => [o == null ? `set a daily limit of ${n} min` : n == null ? `removed the daily limit (was ${o} min)`
    : `${n < o ? "shortened" : "lengthened"} the daily limit ${o} → ${n} min`],
  max_volume: (o, n) => [o == null ? `set a volume cap of ${n}` : n == null ? `removed the volume cap (was ${o})`
    : `${n < o ? "lowered" : "raised"} the volume cap ${o} → ${n}`],
  allowed_collections: (o, n) => [!(n || []).length ? "allowed every collection again"
    : `allowed only ${list(quoted(n))}`],
  blocked_tags: (o, n) => names(o, n, (x) => `blocked anything tagged ${list(x)}`, (x) => `unblocked ${list(x)}`),
  sleep_timer_min: (o, n) => [o == null ? `turned on a ${n}-minute sleep timer` : n == null ? "turned off the sleep timer"
    : `changed the sleep timer ${o} → ${n} min`],
  utc_offset_min: (o, n) => [`set the household's time zone to ${offset(n)}`],
  name: (o, n) => [!o ? `named this speaker “${n}”` : !n ? `took away the name “${o}”` : `renamed this speaker “${o}” → “${n}”`],
};
const TOPIC = { bedtime: "bedtime", sleep_collections: "what plays at bedtime", daily_limit_min: "daily limit",
  max_volume: "volume cap", allowed_collections: "allowed collections", blocked_tags: "blocked tags",
  sleep_timer_min: "sleep timer", utc_offset_min: "time zone", name: "name" };

export function who(entry) {
  if (typeof entry.by === "string" && entry.by) return entry.by;
  return entry.who === "operator" ? "The operator" : "A parent";
}

// One audit entry as a sentence: "Mum lowered the volume cap 80 → 70 and set quiet time 19:30–07:00 on Mon–Fri".
export function sentence(entry) {
  const parts = [];
  for (const [key, change] of Object.entries(entry.changes || {})) {
    if (!Array.isArray(change)) { parts.push(`changed the ${TOPIC[key] || key}`); continue; }   // too long to keep
    const say = PHRASES[key];
    parts.push(...(say ? say(change[0], change[1]) : [`changed ${key}`]));
  }
  return `${who(entry)} ${parts.length ? list(parts) : "saved the rules without changing them"}`;
}

// The history (newest first) as days, each with its entries: {heading, entries: [{time, title, about}]}.
export function diary(history, now = new Date()) {
  const days = [];
  for (const h of history) {
    const d = new Date(h.started_at * 1000), heading = dayHeading(d, now);
    if (!days.length || days[days.length - 1].heading !== heading) days.push({ heading, entries: [] });
    const what = h.kind === "story" ? "a story" : "a song";
    const from = h.collection ? ` (${h.collection})` : "";
    const how = h.finished ? "listened to the end" : h.position_ms >= 1000 ? `stopped after ${fmtTime(h.position_ms)}`
      : "stopped at the start";
    days[days.length - 1].entries.push({ time: clock(d), title: h.title, about: `${what}${from}, ${how}` });
  }
  return days;
}
