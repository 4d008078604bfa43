// The slotproof dashboard (specs/dashboard.md). Renders the node's snapshot:
// first the one written into the page, then each one /events sends. Every
// value from the node is put in the page as text (textContent), never as
// markup: zkVM names, peer ids and errors come from strangers.
'use strict';

const state = { snap: null, offsetMs: 0, selected: null, detail: null, connected: false };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function byId(id) { return document.getElementById(id); }

function replace(parent, ...children) {
  parent.replaceChildren(...children);
}

function seconds(ms) {
  if (ms === null || ms === undefined) return '–';
  return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return '–';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

function shortId(id) {
  return id.length > 16 ? id.slice(0, 8) + '…' + id.slice(-6) : id;
}

function nowMs() { return Date.now() + state.offsetMs; }

function table(headers, rows, numeric) {
  const t = el('table');
  const head = el('tr');
  headers.forEach((h, i) => head.append(el('th', numeric && numeric[i] ? 'num' : '', h)));
  t.append(head);
  for (const r of rows) {
    const tr = el('tr');
    r.forEach((c, i) => {
      const td = el('td', numeric && numeric[i] ? 'num' : '');
      if (c instanceof Node) td.append(c); else td.textContent = c === null || c === undefined ? '–' : String(c);
      tr.append(td);
    });
    t.append(tr);
  }
  return t;
}

// Own proofs: colour by outcome; the bar is the time from the block's arrival to the proof.
function ownOutcome(p) {
  if (p.status === 'proved') return p.verified ? (p.within_deadline ? 'verified' : 'late') : 'failed';
  if (p.status === 'failed' || p.status === 'missed') return p.status;
  return 'pending';
}

function barRow(name, cls, ms, label, scaleMs, slotMs, title) {
  const row = el('div', 'bar-row');
  row.dataset.zkvm = name;
  const n = el('span', 'zkvm-name', name);
  n.title = title || name;
  const track = el('div', 'track');
  const bar = el('div', 'bar ' + cls);
  const width = Math.max(0, Math.min(1, (ms || 0) / scaleMs));
  bar.style.width = (width * 100).toFixed(2) + '%';
  const line = el('div', 'deadline-line');
  line.style.left = ((slotMs / scaleMs) * 100).toFixed(2) + '%';
  const text = el('span', 'bar-label', label);
  text.style.left = (Math.min(width, 0.8) * 100).toFixed(2) + '%';
  track.append(bar, line, text);
  row.append(n, track);
  return row;
}

function blockRow(b, s) {
  const slotMs = s.slot_ms || 12000;
  const scaleMs = slotMs * 1.5;
  const row = el('div', 'block-row');
  row.dataset.number = b.block_number;
  row.dataset.hash = b.block_hash;
  if (state.selected && state.selected.hash === b.block_hash) row.classList.add('selected');
  const head = el('div', 'block-head');
  head.append(el('span', 'block-number', b.block_number));
  const age = Math.max(0, nowMs() - b.arrival_ms);
  const verdict = !b.closed ? 'open' : (b.deadline_met ? 'deadline met' : 'deadline missed');
  const meta = el('span', 'block-meta' + (b.closed && !b.deadline_met ? ' deadline-missed' : ''),
    `slot ${b.slot} · ${seconds(age)} ago · ${verdict}` + (b.requested ? ' · requested' : ''));
  head.append(meta);
  row.append(head);
  for (const p of b.proofs) {
    const cls = ownOutcome(p);
    let ms = p.latency_ms;
    if (cls === 'pending') ms = b.closed ? 0 : age;
    const label = cls === 'pending' ? (b.closed ? 'no proof' : 'proving…')
      : (p.status === 'proved' ? seconds(p.latency_ms) + (p.verified ? '' : ' (did not verify)') : p.status);
    row.append(barRow(p.zkvm, cls + (p.simulated ? ' simulated' : ''), ms, label, scaleMs, slotMs,
      p.error ? `${p.zkvm}: ${p.error}` : p.zkvm));
  }
  for (const p of b.network_proofs || []) {
    const cls = p.verified ? 'network' : 'failed';
    const name = `${p.zkvm} · ${shortId(p.node)}`;
    const label = seconds(p.proving_ms) + (p.verified ? '' : ' (unverified)') + (p.within_deadline ? '' : ' (late)');
    row.append(barRow(name, cls + (p.simulated ? ' simulated' : ''), p.proving_ms, label, scaleMs, slotMs,
      `${p.zkvm} proved by ${p.node}`));
  }
  row.addEventListener('click', () => select(b.block_number, b.block_hash));
  return row;
}

function renderTimeline(s) {
  byId('deadline-text').textContent = `slot deadline (${seconds(s.slot_ms)})`;
  if (!s.blocks.length) {
    replace(byId('timeline'), el('p', 'empty', 'No block yet: waiting for the chain (the first arrives within a slot).'));
    return;
  }
  replace(byId('timeline'), ...s.blocks.map((b) => blockRow(b, s)));
}

function quantile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function renderLatency(s) {
  const out = [];
  const slotMs = s.slot_ms || 12000;
  const buckets = 8;
  const width = (slotMs * 1.5) / buckets;
  for (const z of s.zkvms) {
    const own = s.blocks.flatMap((b) => b.proofs.filter((p) => p.zkvm === z && p.status === 'proved' && p.latency_ms !== null));
    const lat = own.map((p) => p.latency_ms).sort((a, b) => a - b);
    const box = el('div', 'zkvm-latency');
    box.dataset.zkvm = z;
    box.append(el('div', 'zkvm-name', z));
    if (!lat.length) {
      box.append(el('div', 'empty', 'no proof in the last blocks'));
      out.push(box);
      continue;
    }
    const counts = new Array(buckets + 1).fill(0);
    lat.forEach((v) => { counts[Math.min(buckets, Math.floor(v / width))] += 1; });
    const max = Math.max(...counts);
    const hist = el('div', 'hist');
    counts.forEach((c, i) => {
      const col = el('div', 'col' + ((i + 1) * width > slotMs ? ' over' : ''));
      col.style.height = ((c / max) * 100).toFixed(1) + '%';
      col.title = i < buckets ? `${seconds(i * width)}–${seconds((i + 1) * width)}: ${c}` : `over ${seconds(buckets * width)}: ${c}`;
      hist.append(col);
    });
    const within = own.filter((p) => p.within_deadline && p.verified).length;
    box.append(hist, el('div', 'figures',
      `${lat.length} proofs · p50 ${seconds(quantile(lat, 0.5))} · p90 ${seconds(quantile(lat, 0.9))} · ` +
      `${Math.round((100 * within) / own.length)}% within the deadline`));
    out.push(box);
  }
  replace(byId('latency'), ...out);
}

function renderPeers(s) {
  const n = s.network;
  if (!n) {
    replace(byId('peers'), el('p', 'empty', 'Not on a proving network: this node proves alone ([p2p] not configured).'));
    return;
  }
  const peers = n.peers || [];
  const parts = [el('p', '', `node ${n.node_id ? shortId(n.node_id) : '(starting)'} · ${peers.length} peers (want ≥ ${n.min_peers}) · ${n.live_provers || 0} live provers`)];
  if (n.node_id) parts[0].title = n.node_id;
  if (peers.length) {
    parts.push(table(['peer', 'score'], peers.map((p) => [p.peer, Number(p.score).toFixed(2)]), [false, true]));
  } else {
    parts.push(el('p', 'empty', 'No peer connected.'));
  }
  replace(byId('peers'), ...parts);
}

function renderQueues(s) {
  const names = Object.keys(s.queues);
  if (!names.length) {
    replace(byId('queues'), el('p', 'empty', `Queue empty (backend: ${s.node.queue_backend}).`));
    return;
  }
  const rows = names.map((q) => { const c = s.queues[q]; return [q, c.pending, c.delayed, c.leased, c.dead, c.done]; });
  replace(byId('queues'), el('p', '', `backend: ${s.node.queue_backend}`),
    table(['queue', 'pending', 'delayed', 'leased', 'dead', 'done'], rows, [false, true, true, true, true, true]));
}

function renderOutbox(s) {
  const o = s.outbox;
  if (!o) {
    replace(byId('outbox'), el('p', 'empty', 'Submission not configured: no [ethproofs] url, nothing is sent.'));
    return;
  }
  const parts = [table(['pending', 'delayed', 'sending', 'sent', 'dead'], [[o.pending, o.delayed, o.leased, o.sent, o.dead]],
    [true, true, true, true, true])];
  if (o.refused) parts.push(el('p', 'block-meta deadline-missed', `refused (HTTP ${o.refused.status}): ${o.refused.fix}`));
  replace(byId('outbox'), ...parts);
}

function renderWorkers(s) {
  const w = s.workers;
  if (!w) {
    replace(byId('workers'), el('p', 'empty', `No remote workers: the queue is on ${s.node.queue_backend} (workers need NATS).`));
    return;
  }
  if (!w.length) {
    replace(byId('workers'), el('p', 'empty', 'No worker has been heard from.'));
    return;
  }
  replace(byId('workers'), table(['worker', 'zkVMs', 'free slots', 'alive', 'proofs', 'failures'],
    w.map((x) => [x.id, (x.zkvms || []).map((z) => `${z.name} ${z.free}/${z.slots}`).join(', '), x.free_slots,
      x.alive ? 'yes' : 'no', x.proofs, x.failures]),
    [false, false, true, false, true, true]));
}

function renderHeader(s) {
  const head = s.head;
  byId('head').textContent = head ? `head ${head.number} · ${head.hash.slice(0, 10)}…` : 'head: none yet';
  const h = byId('health');
  h.textContent = s.health.ok ? 'healthy' : 'attention';
  h.className = 'pill ' + (s.health.ok ? 'ok' : 'bad');
  replace(byId('problems'), ...s.health.problems.map((p) => el('li', '', p)));
}

function renderClock() {
  const s = state.snap;
  if (!s) return;
  const newest = s.blocks[0];
  const slotMs = s.slot_ms || 12000;
  if (!newest) {
    byId('slot-text').textContent = `slot ${seconds(slotMs)} · waiting for the first block`;
    return;
  }
  const since = Math.max(0, nowMs() - newest.arrival_ms);
  const slot = newest.slot + Math.floor(since / slotMs);
  const into = since % slotMs;
  byId('slot-text').textContent = `slot ${slot} · ${seconds(into)} of ${seconds(slotMs)}`;
  byId('slot-fill').style.width = ((into / slotMs) * 100).toFixed(1) + '%';
}

function renderConn() {
  const c = byId('conn');
  c.textContent = state.connected ? 'live' : 'reconnecting…';
  c.className = 'pill ' + (state.connected ? 'ok' : 'warn');
}

function link(href, text) {
  const a = el('a', '', text);
  a.href = href;
  a.setAttribute('download', '');
  return a;
}

function proofHref(b, zkvm, node) {
  const base = `/proofs/${b.block_number}/${b.block_hash}/${encodeURIComponent(zkvm)}`;
  return node ? `${base}?node=${encodeURIComponent(node)}` : base;
}

function renderDetail() {
  const panel = byId('detail-panel');
  const sel = state.selected;
  if (!sel) { panel.hidden = true; return; }
  const fromSnap = state.snap && state.snap.blocks.find((b) => b.block_hash === sel.hash);
  const fromApi = state.detail && state.detail.blocks && state.detail.blocks.find((b) => b.block_hash === sel.hash);
  const b = fromSnap || fromApi;
  panel.hidden = false;
  byId('detail-title').textContent = String(sel.number);
  if (!b) {
    const why = state.detail && state.detail.number === sel.number && state.detail.error;
    replace(byId('detail'), el('p', 'empty', why || 'Loading…'));
    return;
  }
  const parts = [el('p', 'block-meta', `hash ${b.block_hash} · slot ${b.slot} · ` +
    (b.closed ? (b.deadline_met ? 'deadline met' : 'deadline missed') : 'open'))];
  parts.push(el('h2', '', 'Own proofs'));
  parts.push(table(['zkVM', 'status', 'proving', 'to proof', 'size', 'verified', 'simulated', 'proof'],
    b.proofs.map((p) => [p.zkvm, p.status + (p.error ? ` (${p.error})` : ''), seconds(p.proving_ms), seconds(p.latency_ms),
      size(p.proof_bytes), p.verified ? 'yes' : 'no', p.simulated ? 'yes' : 'no',
      p.status === 'proved' && p.verified ? link(proofHref(b, p.zkvm), 'download') : '–'])));
  parts.push(el('h2', '', 'From the network'));
  if ((b.network_proofs || []).length) {
    parts.push(table(['zkVM', 'prover', 'proving', 'size', 'verified', 'in time', 'proof'],
      b.network_proofs.map((p) => [p.zkvm, p.node, seconds(p.proving_ms), size(p.proof_bytes), p.verified ? 'yes' : 'no',
        p.within_deadline ? 'yes' : 'no', link(proofHref(b, p.zkvm, p.node), 'download')])));
  } else {
    parts.push(el('p', 'empty', state.snap && state.snap.network ? 'No proof from another node.' : 'Not on a network.'));
  }
  parts.push(el('h2', '', 'Ethproofs'));
  const d = state.detail;
  if (!d || d.number !== sel.number) {
    parts.push(el('p', 'empty', 'Loading…'));
  } else if (d.error) {
    parts.push(el('p', 'empty', d.error));
  } else if (d.outbox === null) {
    parts.push(el('p', 'empty', 'Submission not configured.'));
  } else if (!d.outbox.length) {
    parts.push(el('p', '', 'Nothing waiting in the outbox for this block (sent, or nothing to send).'));
  } else {
    parts.push(table(['zkVM', 'state', 'attempts', 'last error'],
      d.outbox.map((e) => [e.zkvm, e.state, e.attempts, e.last_error || '–']), [false, false, true, false]));
  }
  replace(byId('detail'), ...parts);
}

async function select(number, hash) {
  state.selected = { number, hash };
  state.detail = null;
  renderDetail();
  renderTimeline(state.snap);
  let detail;
  try {
    const r = await fetch(`/api/blocks/${number}`);
    const body = await r.json();
    detail = r.ok ? body : { number, blocks: [], outbox: null, error: body.error || `HTTP ${r.status}` };
  } catch (e) {
    detail = { number, blocks: [], outbox: null, error: 'the node did not answer' };
  }
  // A slower answer for a block no longer selected is dropped.
  if (!state.selected || state.selected.number !== number) return;
  state.detail = detail;
  renderDetail();
}

function render() {
  const s = state.snap;
  if (!s) return;
  renderHeader(s);
  renderClock();
  renderTimeline(s);
  renderLatency(s);
  renderPeers(s);
  renderQueues(s);
  renderOutbox(s);
  renderWorkers(s);
  renderDetail();
}

function accept(s) {
  if (!s || !Array.isArray(s.blocks)) return;
  state.snap = s;
  state.offsetMs = s.now_ms - Date.now();
  render();
}

// The browser reconnects a dropped stream by itself; a refused one (503:
// too many open) it gives up on, so that one is retried here, backing off.
function connect(delayMs) {
  const es = new EventSource('/events');
  es.addEventListener('open', () => { state.connected = true; renderConn(); });
  es.addEventListener('snapshot', (e) => {
    state.connected = true;
    renderConn();
    accept(JSON.parse(e.data));
  });
  es.addEventListener('error', () => {
    state.connected = false;
    renderConn();
    if (es.readyState === EventSource.CLOSED) {
      setTimeout(() => connect(Math.min(delayMs * 2, 30000)), delayMs);
    }
  });
}

function start() {
  try {
    accept(JSON.parse(byId('initial-snapshot').textContent));
  } catch (e) {
    // A page served without a snapshot (never by the node): the stream fills it.
  }
  renderConn();
  byId('detail-close').addEventListener('click', () => { state.selected = null; renderDetail(); renderTimeline(state.snap); });
  connect(1000);
  setInterval(renderClock, 250);
  setInterval(() => { if (state.snap) renderTimeline(state.snap); }, 1000);
}

start();
