// fieldgate status page: plain JavaScript, no build step. Polls /api/v5/summary, clients and
// devices every few seconds; the live tail is a server-sent event stream (/api/v5/tail).
'use strict';

const POLL_MS = 2000;
const SPARK_POINTS = 40;
const TAIL_MAX = 200;
const $ = (id) => document.getElementById(id);
const history = new Map(); // upstream -> { last: forwarded, at: ms, rates: [] }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function ago(iso) {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function span(s) {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function bytes(n) {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`;
}

/** Fills a table body; each cell carries its column name for the narrow (phone) layout. */
function fill(tableId, rows, emptyId) {
  const table = $(tableId);
  const labels = [...table.tHead.rows[0].cells].map((c) => c.textContent);
  const body = table.tBodies[0];
  body.replaceChildren(...rows.map((cells) => {
    const tr = el('tr');
    cells.forEach((c, i) => {
      const td = c instanceof Node ? (() => { const t = el('td'); t.append(c); return t; })() : el('td', c);
      td.dataset.label = labels[i];
      tr.append(td);
    });
    return tr;
  }));
  table.hidden = rows.length === 0;
  $(emptyId).hidden = rows.length !== 0;
}

function state(text, good) {
  return el('span', text, good ? 'ok' : 'bad');
}

function sparkline(rates) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${SPARK_POINTS} 20`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const max = Math.max(1, ...rates);
  const base = document.createElementNS(ns, 'line');
  base.setAttribute('x1', '0');
  base.setAttribute('x2', String(SPARK_POINTS));
  base.setAttribute('y1', '19.5');
  base.setAttribute('y2', '19.5');
  base.setAttribute('class', 'base');
  base.setAttribute('vector-effect', 'non-scaling-stroke');
  svg.append(base);
  const line = document.createElementNS(ns, 'polyline');
  // Until the window is full the samples are spread over the whole width.
  const pts = rates.length === 1 ? [rates[0], rates[0]] : rates;
  const step = pts.length > 1 ? (SPARK_POINTS - 1) / (pts.length - 1) : 0;
  line.setAttribute('points', pts.map((r, i) => `${(i * step).toFixed(2)},${(19.5 - (r / max) * 18.5).toFixed(2)}`).join(' '));
  line.setAttribute('vector-effect', 'non-scaling-stroke');
  svg.append(line);
  svg.setAttribute('aria-label', `throughput, last ${rates.length} samples, up to ${max.toFixed(1)} msg/s`);
  return svg;
}

function renderBridge(upstreams) {
  const box = $('bridge');
  const now = Date.now();
  // One log serves every upstream: its depth and age are shown once, above the upstreams.
  const q = upstreams[0] && upstreams[0].queue;
  const head = q ? [el('p', `log: ${q.messages} messages waiting (${bytes(q.bytes)}), oldest ${span(Math.round(q.oldest_age_ms / 1000))}`, 'queue')] : [];
  box.replaceChildren(...head, ...upstreams.map((u) => {
    const h = history.get(u.name) ?? { last: u.forwarded, at: now, rates: [] };
    if (now > h.at) h.rates.push(Math.max(0, ((u.forwarded - h.last) * 1000) / (now - h.at)));
    if (h.rates.length > SPARK_POINTS) h.rates.shift();
    h.last = u.forwarded;
    h.at = now;
    history.set(u.name, h);
    const card = el('div', undefined, 'upstream');
    card.dataset.upstream = u.name;
    const title = el('div');
    title.append(el('span', u.name, 'name'), ' ', state(u.connected ? 'connected' : 'disconnected', u.connected));
    card.append(title, sparkline(h.rates));
    card.append(el('div', u.connected ? `to ${u.server}` : `last error: ${u.last_error ?? 'none yet'}`, 'muted'));
    const rate = h.rates.length ? h.rates[h.rates.length - 1] : 0;
    card.append(el('div', `forwarded ${u.forwarded} · ${rate.toFixed(1)} msg/s · ${u.inflight} in flight`, 'stats'));
    return card;
  }));
  $('bridge-empty').hidden = upstreams.length !== 0;
}

async function get(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

async function refresh() {
  try {
    const [s, clients, devices] = await Promise.all([get('/api/v5/summary'), get('/api/v5/clients?limit=100'), get('/api/v5/devices?limit=100')]);
    $('node').textContent = s.node;
    document.title = `${s.node} · fieldgate`;
    $('meta').textContent = `fieldgate ${s.version} · up ${span(s.uptime_s)} · ${s.messages.received} messages received, ${s.messages.dropped} dropped`;
    fill('adapters', s.adapters.map((a) => [a.name, state(a.state, a.state === 'running'), a.devices_online, a.restarts, a.last_error ?? '']), 'adapters-empty');
    fill('components', (s.components ?? []).map((c) => [c.name, state(c.state, c.state === 'running'), c.restarts, c.last_error ?? '']), 'components-empty');
    renderBridge(s.bridge);
    $('clients-count').textContent = `${s.clients.connected} connected`;
    fill('clients', clients.data.map((c) => [c.clientid, c.ip_address ?? '-', state(c.conn_state, c.connected), ago(c.connected_at), c.subscriptions_cnt]), 'clients-empty');
    $('devices-count').textContent = `${s.devices.online} online of ${s.devices.total}`;
    fill('devices', devices.data.map((d) => [d.protocol, d.id, d.address ?? '-', state(d.online ? 'online' : 'offline', d.online), ago(d.last_seen)]), 'devices-empty');
    $('error').hidden = true;
  } catch (err) {
    $('error').textContent = `Cannot reach the gateway: ${err.message}`;
    $('error').hidden = false;
  }
}

let source;
function stopTail() {
  if (source) source.close();
  source = undefined;
  $('tail-stop').hidden = true;
  $('tail-start').hidden = false;
}

function startTail(topic) {
  stopTail();
  $('tail').replaceChildren();
  $('tail-status').textContent = `subscribing to ${topic}…`;
  source = new EventSource(`/api/v5/tail?topic=${encodeURIComponent(topic)}`);
  source.addEventListener('ready', () => {
    $('tail-status').textContent = `watching ${topic}`;
  });
  source.onmessage = (e) => {
    const m = JSON.parse(e.data);
    const li = el('li');
    li.append(el('span', new Date(m.ts).toLocaleTimeString(), 'muted'), ' ', el('span', m.topic, 'topic'), ' ', el('span', m.payload));
    if (m.skipped_before) li.append(' ', el('span', `(${m.skipped_before} skipped: the page fell behind)`, 'warn'));
    const list = $('tail');
    list.prepend(li);
    while (list.children.length > TAIL_MAX) list.lastChild.remove();
  };
  source.onerror = () => {
    // EventSource retries by itself; a refusal (403, 503) ends the stream for good.
    if (source && source.readyState === EventSource.CLOSED) {
      $('tail-status').textContent = `stopped: the gateway refused ${topic} (ACL or too many live tails)`;
      stopTail();
    } else $('tail-status').textContent = 'reconnecting…';
  };
  $('tail-stop').hidden = false;
  $('tail-start').hidden = true;
}

$('tail-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const topic = $('tail-topic').value.trim();
  if (topic) startTail(topic);
});
$('tail-stop').addEventListener('click', () => {
  stopTail();
  $('tail-status').textContent = 'stopped';
});

refresh();
setInterval(refresh, POLL_MS);
