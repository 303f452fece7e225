// The city model the page draws: devices (SensorThings Things with their Location and
// Datastreams), their latest observations, alert levels and active alerts, and the state
// of each device (normal / caution / warning / danger / silent) derived from them.

export const SEVERITIES = ['caution', 'warning', 'danger'];
const RANK = { normal: 0, caution: 1, warning: 2, danger: 3 };

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!r.ok) {
    let msg = `${r.status} ${r.statusText}`;
    try { msg = (await r.json()).message || msg; } catch { /* not JSON */ }
    const e = new Error(`${url}: ${msg}`);
    e.status = r.status;
    throw e;
  }
  return r.json();
}

/** Every page of a SensorThings collection (follows @iot.nextLink, at most 100 pages). */
async function getAll(url) {
  const out = [];
  for (let i = 0; url && i < 100; i++) {
    const page = await getJSON(url);
    out.push(...page.value);
    url = page['@iot.nextLink'];
    if (url) { const u = new URL(url, location.href); url = u.pathname + u.search; }
  }
  return out;
}

export class City {
  constructor(api, silentAfterS, alertsUrl) {
    this.api = api;
    this.alertsUrl = alertsUrl; // null: the API has no alert engine
    this.silentAfterMs = silentAfterS * 1000;
    this.devices = new Map(); // device id -> device
    this.byDs = new Map(); // datastream id -> { dev, q }
    this.alerts = new Map(); // alert key -> alert
  }

  async load() {
    const things = await getAll(`${this.api}/Things?$top=1000&$expand=Locations($select=location),`
      + 'Datastreams($select=id,name,unitOfMeasurement;$expand=ObservedProperty($select=name))');
    for (const th of things) {
      const loc = th.Locations?.[0]?.location;
      if (!loc || loc.type !== 'Point') continue;
      const props = th.properties || {};
      const dev = {
        id: th.name, thing: th['@iot.id'], kind: props.kind || 'unknown', props,
        lon: loc.coordinates[0], lat: loc.coordinates[1],
        ds: {}, latest: {}, area: null, levels: levelsOf(props), state: 'silent',
      };
      for (const d of th.Datastreams || []) {
        const q = d.ObservedProperty?.name || d.name.split(' ').pop();
        dev.ds[q] = d['@iot.id'];
        this.byDs.set(d['@iot.id'], { dev, q });
      }
      this.devices.set(dev.id, dev);
    }
    const ids = [...this.byDs.keys()];
    for (let i = 0; i < ids.length; i += 1000) {
      const page = await getJSON(`${this.api}/Datastreams/latest?ids=${ids.slice(i, i + 1000).join(',')}`);
      for (const o of page.value) {
        if (o.result !== null && o.result !== undefined) this.observe(o['Datastream@iot.id'], o);
      }
    }
    await this.loadAlerts();
    for (const dev of this.devices.values()) this.restate(dev);
  }

  /** Active alerts and alert levels, when the API has them (/alerts). */
  async loadAlerts() {
    if (!this.alertsUrl) return;
    for (const a of await getAll(`${this.alertsUrl}?state=active`)) this.alert(a);
  }

  /** A new observation of datastream ds; returns the device or null. */
  observe(ds, o) {
    const hit = this.byDs.get(Number(ds));
    if (!hit) return null;
    const prev = hit.dev.latest[hit.q];
    const t = Date.parse(String(o.phenomenonTime).split('/').pop());
    if (prev && prev.t > t) return null; // an older reading arriving late
    hit.dev.latest[hit.q] = {
      result: o.result, t, stored: Date.parse(o.resultTime), received: Date.now(),
    };
    this.restate(hit.dev);
    return hit.dev;
  }

  /** An alert message (MQTT city/alerts/ID or an item of /alerts, schemas/alert.schema.json);
   *  returns { alert, isNew, dev }. A message older (lower rev) than one seen is ignored. */
  alert(msg, topicDevice) {
    const a = normAlert(msg, topicDevice);
    const old = this.alerts.get(a.key);
    const dev = this.devices.get(a.device) || null;
    if (old && a.rev !== null && old.rev !== null && a.rev <= old.rev) return { alert: old, isNew: false, dev };
    const isNew = !old && a.active;
    this.alerts.set(a.key, { ...a, first: old ? old.first : Date.now() });
    if (this.alerts.size > 2000) { // cleared alerts are kept only to order late messages
      for (const [k, v] of this.alerts) if (!v.active && this.alerts.size > 1000) this.alerts.delete(k);
    }
    if (dev && a.kind === 'level' && typeof a.threshold === 'number') {
      dev.levels = { ...(dev.levels || {}), [a.severity]: a.threshold }; // the engine's own level
    }
    if (dev) this.restate(dev);
    return { alert: this.alerts.get(a.key), isNew, dev };
  }

  activeAlerts() {
    return [...this.alerts.values()].filter((a) => a.active)
      .sort((x, y) => RANK[y.severity] - RANK[x.severity] || y.start - x.start);
  }

  /** The device's main reading for display: { q, result, t } or null. */
  main(dev) {
    const q = { water_level: 'water_level', people_flow: 'people_in', wifi_ap: 'unique_devices' }[dev.kind];
    const l = q && dev.latest[q];
    return l ? { q, ...l } : null;
  }

  restate(dev, now = Date.now()) {
    let state = 'normal';
    const last = Math.max(0, ...Object.values(dev.latest).map((l) => l.stored || l.received || 0));
    const silentAlert = [...this.alerts.values()].some((a) => a.active && a.device === dev.id && a.kind === 'silence');
    if (!last || now - last > this.silentAfterMs || silentAlert) {
      state = 'silent';
    } else {
      const m = dev.kind === 'water_level' && dev.latest.water_level;
      if (m && dev.levels) {
        for (const s of SEVERITIES) if (dev.levels[s] !== undefined && m.result >= dev.levels[s]) state = s;
      }
      for (const a of this.alerts.values()) {
        if (a.active && a.device === dev.id && RANK[a.severity] > RANK[state]) state = a.severity;
      }
    }
    const changed = dev.state !== state;
    dev.state = state;
    return changed;
  }
}

/** A gauge's alert levels until the engine reports its own (each level alert carries the
 *  threshold of its severity): the engine's defaults, 50/70/85 % of an ultrasonic gauge's
 *  mount height, else 1.0/1.5/2.0 m (docs/alerts.md). */
function levelsOf(props) {
  if (props.kind !== 'water_level') return null;
  const h = props.mount_height_m;
  const r = (v) => Math.round(v * 100) / 100;
  if (typeof h === 'number' && h > 0) return { caution: r(0.5 * h), warning: r(0.7 * h), danger: r(0.85 * h) };
  return { caution: 1.0, warning: 1.5, danger: 2.0 };
}

/** An alert message in the page's terms (schemas/alert.schema.json: condition level, rise or
 *  silence; state active or cleared; severity caution, warning or danger). */
export function normAlert(m, topicDevice) {
  const device = m.device_id || topicDevice || '?';
  const kind = m.condition || 'level';
  let severity = String(m.severity || 'warning');
  if (!SEVERITIES.includes(severity)) severity = 'warning';
  const state = String(m.state || 'active');
  const start = Date.parse(m.start) || Date.now();
  return {
    key: m.id !== undefined ? `id:${m.id}` : `${device}:${kind}`,
    id: m.id ?? null, rev: typeof m.rev === 'number' ? m.rev : null,
    device, kind, severity, state, active: state === 'active' && !m.end, start,
    event: m.event || '', value: typeof m.value === 'number' ? m.value : null,
    unit: m.unit || (kind === 'silence' ? 's' : 'm'),
    threshold: m.threshold ?? null, peak: m.peak?.value ?? null,
    raw: m,
  };
}
