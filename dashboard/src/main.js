// Takumi's city dashboard: the map of every sensor coloured by state, water levels with
// their alert bands, people flow and Wi-Fi presence per area, the alert list, and history
// charts, kept live over MQTT (WebSockets) with the broker's read-only dashboard identity.
import 'leaflet/dist/leaflet.css';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import L from 'leaflet';
import uPlot from 'uplot';
import mqtt from 'mqtt';
import geo from './geo/hiroshima.geojson';
import { City, SEVERITIES } from './data.js';
import { initLang, toggleLang, t, nameOf, getLang } from './i18n.js';

const $ = (id) => document.getElementById(id);
const STATES = ['normal', 'caution', 'warning', 'danger', 'silent'];
const SHAPES = { water_level: 'circle', people_flow: 'square', wifi_ap: 'diamond' };
const NEW_ALERT_MS = 30000;

// what tests and the bench read (window.takumiDashboard)
const probe = { ready: false, markers: 0, updates: 0, received: [], error: null, live: false };
window.takumiDashboard = probe;

let city;
let map;
const markers = new Map(); // device id -> L.Marker
const areaLayers = []; // { feature, layer, devices: [] }
let selected = null;
let chart = null;
let chartDs = null;
let renderQueued = false;
const dirty = new Set();

function fmt(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  return Number(v).toLocaleString(getLang() === 'ja' ? 'ja-JP' : 'en-GB', { maximumFractionDigits: digits });
}

function fmtTime(ms) {
  if (!ms || Number.isNaN(ms)) return '—';
  return new Date(ms).toLocaleString(getLang() === 'ja' ? 'ja-JP' : 'en-GB', {
    month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

function valueText(dev) {
  const m = city.main(dev);
  if (!m) return '';
  if (dev.kind === 'water_level') return `${fmt(m.result)} m`;
  if (dev.kind === 'people_flow') {
    return `${t('in')} ${fmt(dev.latest.people_in?.result, 0)} / ${t('out')} ${fmt(dev.latest.people_out?.result, 0)}`;
  }
  return `${fmt(m.result, 0)} ${t('terminals')}`;
}

function label(dev) {
  return t('marker_label', { name: dev.id, kind: t(dev.kind), state: t(dev.state), value: valueText(dev) });
}

// ---- map ---------------------------------------------------------------------------

function pointInRing(lon, lat, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function buildMap() {
  map = L.map('map', { zoomSnap: 0.25, attributionControl: false, keyboard: true, preferCanvas: false });
  $('map').setAttribute('aria-label', t('map'));
  const pts = [...city.devices.values()].map((d) => [d.lat, d.lon]);
  if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.08));
  else map.setView([34.395, 132.46], 13);
  L.geoJSON(geo, {
    filter: (f) => f.properties.kind !== 'area',
    style: (f) => (f.properties.kind === 'sea'
      ? { color: '#7fa7c9', weight: 1, fillColor: '#cfe2f3', fillOpacity: 1 }
      : { color: '#5b9bd5', weight: 6, opacity: 0.9 }),
    interactive: false,
  }).addTo(map);
  map.createPane('areaLabels').style.zIndex = 450; // above the areas, below the markers
  for (const f of geo.features.filter((x) => x.properties.kind === 'area')) {
    const layer = L.geoJSON(f, {
      style: { color: '#37474f', weight: 1.5, dashArray: '4 4', fillColor: '#90a4ae', fillOpacity: 0.12 },
      interactive: false,
    }).addTo(map);
    const dir = f.properties.label || 'top';
    const b = layer.getBounds();
    const at = { top: [b.getNorth(), b.getCenter().lng], bottom: [b.getSouth(), b.getCenter().lng],
      left: [b.getCenter().lat, b.getWest()], right: [b.getCenter().lat, b.getEast()] }[dir];
    layer.bindTooltip('', { permanent: true, direction: dir, className: 'area-label', pane: 'areaLabels' });
    layer.openTooltip(L.latLng(at));
    areaLayers.push({ feature: f, layer, devices: [] });
  }
  for (const dev of city.devices.values()) {
    const area = areaLayers.find((a) => pointInRing(dev.lon, dev.lat, a.feature.geometry.coordinates[0]));
    if (area) { dev.area = area; area.devices.push(dev); }
    const m = L.marker([dev.lat, dev.lon], {
      icon: L.divIcon({ className: 'tk-marker', iconSize: [18, 18], html: '<i></i>' }),
      keyboard: true, title: dev.id, riseOnHover: true,
    }).addTo(map);
    m.on('click', () => select(dev));
    const el = m.getElement();
    el.dataset.device = dev.id;
    el.dataset.kind = dev.kind;
    el.setAttribute('role', 'button');
    el.classList.add(`shape-${SHAPES[dev.kind] || 'circle'}`);
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); e.stopPropagation(); select(dev); }
    });
    markers.set(dev.id, m);
  }
  probe.markers = markers.size;
  const legend = $('legend');
  legend.replaceChildren(...STATES.map((s) => {
    const li = document.createElement('li');
    li.innerHTML = `<span class="swatch state-${s}"></span><span data-i18n="${s}">${t(s)}</span>`;
    return li;
  }), ...Object.entries(SHAPES).map(([k, shape]) => {
    const li = document.createElement('li');
    li.innerHTML = `<span class="swatch shape-${shape}"></span><span data-i18n="${k}">${t(k)}</span>`;
    return li;
  }));
}

function paintMarker(dev) {
  const el = markers.get(dev.id)?.getElement();
  if (!el) return;
  for (const s of STATES) el.classList.toggle(`state-${s}`, dev.state === s);
  el.dataset.state = dev.state;
  const m = city.main(dev);
  el.dataset.value = m ? String(m.result) : '';
  el.setAttribute('aria-label', label(dev));
  el.title = label(dev);
}

// ---- side panels ---------------------------------------------------------------------

function renderAreas() {
  const rows = [];
  for (const a of areaLayers) {
    let pin = 0; let pout = 0; let wifi = 0; let counters = 0; let aps = 0;
    for (const d of a.devices) {
      if (d.state === 'silent') continue;
      if (d.kind === 'people_flow') {
        counters++; pin += d.latest.people_in?.result || 0; pout += d.latest.people_out?.result || 0;
      } else if (d.kind === 'wifi_ap') {
        aps++; wifi += d.latest.unique_devices?.result || 0;
      }
    }
    const name = nameOf(a.feature.properties);
    a.layer.setTooltipContent(`${name}<br>${t('in')} ${fmt(pin, 0)} · ${t('out')} ${fmt(pout, 0)} · Wi-Fi ${fmt(wifi, 0)}`);
    rows.push(`<tr data-area="${a.feature.properties.id}"><th scope="row">${name}</th>`
      + `<td data-flow="${pin + pout}">${t('in')} ${fmt(pin, 0)} / ${t('out')} ${fmt(pout, 0)}<small> (${counters})</small></td>`
      + `<td data-wifi="${wifi}">${fmt(wifi, 0)}<small> (${aps})</small></td></tr>`);
  }
  $('area-table').tBodies[0].innerHTML = rows.join('');
}

function renderGauges() {
  const rank = { danger: 0, warning: 1, caution: 2, normal: 3, silent: 4 };
  const gauges = [...city.devices.values()].filter((d) => d.kind === 'water_level')
    .sort((a, b) => rank[a.state] - rank[b.state]
      || (b.latest.water_level?.result ?? -1) - (a.latest.water_level?.result ?? -1) || a.id.localeCompare(b.id));
  const body = $('gauge-table').tBodies[0];
  keepFocus(body, () => { body.innerHTML = gauges.map((d) => {
    const lv = d.latest.water_level?.result;
    const w = d.levels?.danger ? Math.min(100, Math.max(0, (100 * (lv ?? 0)) / (d.levels.danger * 1.15))) : 0;
    return `<tr data-device="${d.id}" class="state-${d.state}"><th scope="row">`
      + `<button type="button" class="link" data-device="${d.id}">${d.id}</button></th>`
      + `<td><span class="bar" style="--w:${w}%"></span>${fmt(lv)} m</td>`
      + `<td><span class="badge state-${d.state}">${t(d.state)}</span></td></tr>`;
  }).join(''); });
}

function kindName(k) {
  const key = { level: 'kind_level', rise: 'kind_rise', silence: 'kind_silence' }[k];
  return key ? t(key) : k;
}

// Re-rendering a list must not take the keyboard focus away from a button in it.
function keepFocus(container, render) {
  const dev = container.contains(document.activeElement) ? document.activeElement.dataset?.device : null;
  render();
  if (dev) container.querySelector(`button[data-device="${CSS.escape(dev)}"]`)?.focus();
}

let alertsShown = ''; // what the list shows, so an unchanged list is not announced again

function renderAlerts() {
  const list = city.activeAlerts();
  const now0 = Date.now();
  const key = list.map((a) => `${a.key}:${a.rev}:${a.severity}:${now0 - a.first < NEW_ALERT_MS}`).join('|') + getLang();
  if (key === alertsShown) return;
  alertsShown = key;
  $('alert-count').textContent = String(list.length);
  $('alert-empty').hidden = list.length > 0;
  const now = Date.now();
  keepFocus($('alert-list'), () => { $('alert-list').innerHTML = list.map((a) => `<li class="alert state-${a.severity}${now - a.first < NEW_ALERT_MS ? ' new' : ''}"`
    + ` data-device="${escapeHtml(a.device)}" data-severity="${a.severity}" data-kind="${escapeHtml(a.kind)}" data-alert="${escapeHtml(a.key)}">`
    + `<button type="button" class="link" data-device="${escapeHtml(a.device)}">`
    + `<span class="badge state-${a.severity}">${t(a.severity)}</span> <strong>${escapeHtml(a.device)}</strong> ${escapeHtml(kindName(a.kind))}`
    + `${a.value !== null ? ` ${fmt(a.value)} ${escapeHtml(a.unit)}` : ''}</button>`
    + `<small>${t('raised')} ${fmtTime(a.start)}${a.peak !== null ? ` · ${t('peak')} ${fmt(a.peak)} ${escapeHtml(a.unit)}` : ''}</small></li>`).join(''); });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// ---- details and history chart ---------------------------------------------------------

function renderDetails() {
  if (!selected) return;
  const d = selected;
  $('details-h').textContent = `${d.id} — ${t(d.kind)}`;
  const rows = [[t('state'), `<span class="badge state-${d.state}">${t(d.state)}</span>`]];
  for (const [q, l] of Object.entries(d.latest)) {
    if (q === 'battery_voltage' || q === 'water_temperature' || q === 'probe_only') continue;
    rows.push([t(q), `<span data-q="${q}">${fmt(l.result)}</span> <small>${fmtTime(l.t)}</small>`]);
  }
  if (d.levels) {
    rows.push([t('bands'), SEVERITIES.filter((s) => d.levels[s] !== undefined)
      .map((s) => `<span class="badge state-${s}">${t(s)} ${fmt(d.levels[s])} m</span>`).join(' ')]);
  }
  $('details-body').innerHTML = `<dl>${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

async function loadChart(dev) {
  const q = { water_level: 'water_level', people_flow: 'people_in', wifi_ap: 'unique_devices' }[dev.kind];
  const ds = dev.ds[q];
  chartDs = ds;
  if (chart) { chart.destroy(); chart = null; }
  const box = $('chart');
  box.setAttribute('aria-label', t('chart_label', { name: dev.id }));
  box.textContent = '';
  const last = dev.latest[q]?.t;
  if (!ds || !last) { box.textContent = t('no_history'); return; }
  const to = new Date(last + 60000).toISOString();
  const from = new Date(last - 6 * 3600000).toISOString();
  const fn = dev.kind === 'water_level' ? 'avg,min,max' : 'avg,sum';
  const r = await fetch(`${city.api}/Datastreams(${ds})/Observations/aggregate?interval=minute&from=${from}&to=${to}&fn=${fn}`);
  if (!r.ok || chartDs !== ds) return;
  const agg = await r.json();
  const xs = agg.value.map((b) => Date.parse(b.bucket) / 1000);
  const ys = agg.value.map((b) => (dev.kind === 'water_level' ? b.avg : b.sum));
  const data = [xs, ys];
  const series = [{}, { label: t(q), stroke: '#1565c0', width: 2 }];
  const bands = dev.kind === 'water_level' && dev.levels ? SEVERITIES.filter((s) => dev.levels[s] !== undefined) : [];
  const colors = { caution: '#b58900', warning: '#d32f2f', danger: '#7b1fa2' };
  for (const s of bands) {
    data.push(xs.map(() => dev.levels[s]));
    series.push({ label: t(s), stroke: colors[s], width: 1.5, dash: [6, 4], points: { show: false } });
  }
  if (!xs.length) { box.textContent = t('no_history'); return; }
  chart = new uPlot({
    width: Math.max(260, box.clientWidth || 320), height: 180, series, legend: { show: true },
    axes: [{}, { label: dev.kind === 'water_level' ? 'm' : '' }],
    scales: { x: { time: true } },
  }, data, box);
}

function select(dev) {
  selected = dev;
  $('details').hidden = false;
  renderDetails();
  loadChart(dev).catch((e) => console.warn('history chart', e));
  for (const m of markers.values()) m.getElement()?.classList.remove('selected');
  markers.get(dev.id)?.getElement()?.classList.add('selected');
  $('details-h').setAttribute('tabindex', '-1');
  $('details-h').focus();
}

function appendChart(dev, q, l) {
  if (!chart || !selected || selected !== dev || dev.ds[q] !== chartDs) return;
  const x = l.t / 1000;
  const d = chart.data.map((a) => a.slice());
  if (d[0].length && x <= d[0][d[0].length - 1]) return;
  d[0].push(x);
  d[1].push(l.result);
  for (let i = 2; i < d.length; i++) d[i].push(d[i][d[i].length - 1]);
  chart.setData(d);
}

// ---- live updates ------------------------------------------------------------------

function queueRender(dev) {
  if (dev) dirty.add(dev);
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    for (const d of dirty) paintMarker(d);
    dirty.clear();
    renderAreas();
    renderGauges();
    renderAlerts();
    if (selected) renderDetails();
  });
}

function setStatus(state, text) {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text;
  probe.live = state === 'live';
  if (probe.live && !probe.liveMs) probe.liveMs = performance.now();
}

function connectLive(cfg) {
  if (!cfg.mqtt) {
    setStatus('off', `${t('no_live')}: ${cfg.mqtt_error || ''}`);
    return;
  }
  const m = cfg.mqtt;
  const url = m.url || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.hostname}:${m.port}`;
  const client = mqtt.connect(url, {
    username: m.username, password: m.password, reconnectPeriod: 2000, connectTimeout: 10000,
    clientId: `takumi-dash-${Math.random().toString(16).slice(2, 10)}`, clean: true,
  });
  client.on('connect', () => {
    client.subscribe(m.topics || ['v1.1/+/Observations', 'city/alerts/+'], { qos: 0 }, (err) => {
      if (err) setStatus('off', `${t('no_live')}: ${err.message}`);
      else setStatus('live', t('live'));
    });
  });
  client.on('reconnect', () => setStatus('reconnecting', t('reconnecting')));
  client.on('error', (e) => setStatus('reconnecting', `${t('reconnecting')} (${e.message})`));
  client.on('message', (topic, payload) => {
    let msg;
    try { msg = JSON.parse(payload.toString()); } catch { return; }
    const obs = /^v1\.1\/Datastreams\((\d+)\)\/Observations$/.exec(topic);
    if (obs) {
      const ds = Number(obs[1]);
      const dev = city.observe(ds, msg);
      probe.updates++;
      probe.received.push({ ds, id: msg['@iot.id'], result: msg.result, at: Date.now() });
      if (probe.received.length > 2000) probe.received.splice(0, 1000);
      if (dev) {
        queueRender(dev);
        const hit = city.byDs.get(ds);
        appendChart(dev, hit.q, dev.latest[hit.q]);
      }
      return;
    }
    const al = /^city\/alerts\/(.+)$/.exec(topic);
    if (al) {
      const { dev } = city.alert(msg, al[1]);
      probe.alerts = (probe.alerts || 0) + 1;
      queueRender(dev);
    }
  });
}

// ---- start -------------------------------------------------------------------------

async function start() {
  initLang();
  $('lang').addEventListener('click', () => {
    toggleLang();
    for (const d of city?.devices.values() || []) paintMarker(d);
    renderAreas(); renderGauges(); renderAlerts(); renderDetails();
    $('map').setAttribute('aria-label', t('map'));
    setStatus($('status').dataset.state, t({ live: 'live', reconnecting: 'reconnecting' }[$('status').dataset.state] || 'no_live'));
  });
  $('details-close').addEventListener('click', () => {
    $('details').hidden = true;
    const el = selected && markers.get(selected.id)?.getElement();
    selected = null;
    if (el) { el.classList.remove('selected'); el.focus(); }
  });
  $('side').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-device]');
    const dev = b && city.devices.get(b.dataset.device);
    if (dev) { select(dev); map.panTo([dev.lat, dev.lon]); }
  });
  try {
    const cfg = await (await fetch('config.json', { cache: 'no-store' })).json();
    // the alert list starts from /alerts when this API has the alert engine (its OpenAPI
    // document says so); otherwise alerts arrive over MQTT only
    const oa = await (await fetch('/openapi.json')).json().catch(() => ({}));
    const alertsUrl = oa.paths && Object.keys(oa.paths).includes('/alerts') ? '/alerts' : null;
    city = new City(cfg.api || '/v1.1', cfg.silent_after_s || 1800, alertsUrl);
    await city.load();
    buildMap();
    for (const d of city.devices.values()) paintMarker(d);
    renderAreas(); renderGauges(); renderAlerts();
    setStatus('connecting', t('loading'));
    connectLive(cfg);
    // silence and "new" highlights age with time, not with messages
    setInterval(() => {
      for (const d of city.devices.values()) if (city.restate(d)) dirty.add(d);
      queueRender(null);
    }, 5000);
    probe.ready = true;
    probe.readyMs = performance.now();
  } catch (e) {
    probe.error = String(e.message || e);
    setStatus('error', t('load_error', { msg: probe.error }));
    console.warn(e);
  }
}

start();
