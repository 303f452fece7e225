// Dashboard figures in headless Chromium (bench/dashboard.py starts the stack):
//   load: bytes on the wire (gzip) and decoded, time to data drawn and to live, over
//         `loads` fresh browser contexts (no cache), against a blank page from the same
//         server (the browser's own cost) as the baseline;
//   latency: publish (mqtt.js over TCP, as the gauge) -> ingest -> broker -> the page's
//         marker, for `readings` readings one at a time, against a plain MQTT subscriber
//         (mqtt.js over TCP, the dashboard identity) receiving the same observations;
//   alerts: `crossings` times a reading above the gauge's warning level, then one below its
//         clear threshold, published with mosquitto_pub -l as the gauge; per crossing, the
//         publish -> the alert engine's new alert listed highlighted in the page
//         (#alert-list li.new, stamped by a MutationObserver), against the same alert on
//         city/alerts/ID at a plain MQTT subscriber (mqtt.js, the dashboard identity).
// Prints one JSON object. Every wait is bounded.
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
// the pinned packages: mqtt.js from the dashboard's, playwright-core from the tests'
const mqtt = createRequire(join(spec.top, 'dashboard', 'package.json'))('mqtt');
const { chromium } = createRequire(join(spec.top, 'tests', 'package.json'))('playwright-core');
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'], timeout: 30000 });
const out = {};
const clients = [];
try {
  // ---- load size and time ----
  const loads = [];
  const blanks = [];
  for (let i = 0; i < spec.loads; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    const resps = [];
    page.on('requestfinished', (r) => resps.push(r));
    await page.goto(spec.url, { waitUntil: 'load', timeout: 30000 });
    await page.waitForFunction(() => window.takumiDashboard?.ready && window.takumiDashboard?.live, null, { timeout: 30000 });
    const p = await page.evaluate(() => ({ readyMs: window.takumiDashboard.readyMs, liveMs: window.takumiDashboard.liveMs, markers: window.takumiDashboard.markers }));
    let wire = 0; let decoded = 0; let statics = 0; let staticsWire = 0;
    for (const r of resps) {
      const sz = await r.sizes();
      const resp = await r.response();
      const body = resp ? (await resp.body().catch(() => Buffer.alloc(0))).length : 0;
      wire += sz.responseBodySize + sz.responseHeadersSize;
      decoded += body;
      if (!r.url().includes('/v1.1') && !r.url().includes('config.json') && !r.url().includes('openapi')) {
        statics += body; staticsWire += sz.responseBodySize;
      }
    }
    loads.push({ ...p, wire, decoded, statics, staticsWire, requests: resps.length });
    await ctx.close();
    const bctx = await browser.newContext();
    const bpage = await bctx.newPage();
    await bpage.goto(spec.blank_url, { waitUntil: 'load', timeout: 30000 });
    blanks.push(await bpage.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd));
    await bctx.close();
  }
  out.load = {
    runs: loads.length, markers: loads[0].markers, requests: loads[0].requests,
    static_bytes: loads[0].statics, static_bytes_gzip: loads[0].staticsWire,
    all_bytes_wire: loads[0].wire, all_bytes_decoded: loads[0].decoded,
    ready_ms_median: median(loads.map((l) => l.readyMs)), live_ms_median: median(loads.map((l) => l.liveMs)),
    blank_ms_median: median(blanks),
  };

  // ---- publish -> browser latency ----
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(spec.url, { waitUntil: 'load' });
  await page.waitForFunction(() => window.takumiDashboard?.ready && window.takumiDashboard?.live, null, { timeout: 30000 });
  const connect = (opts) => new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://${spec.mqtt.host}:${spec.mqtt.port}`, { ...opts, reconnectPeriod: 0, connectTimeout: 10000 });
    clients.push(c);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
  const sub = await connect({ username: 'takumi-dashboard', password: spec.dashboard_password, clientId: 'bench-dash-sub' });
  const subSeen = new Map(); // result -> receive time
  sub.on('message', (topic, payload) => {
    if (topic !== `v1.1/Datastreams(${spec.gauge.ds})/Observations`) return;
    subSeen.set(JSON.parse(payload.toString()).result, Date.now());
  });
  await new Promise((res, rej) => sub.subscribe('v1.1/+/Observations', { qos: 0 }, (e) => (e ? rej(e) : res())));
  const pubc = await connect({ username: spec.gauge.id, password: spec.gauge.password, clientId: spec.gauge.id });
  const sel = `.tk-marker[data-device="${spec.gauge.id}"]`;
  const browserMs = [];
  const subMs = [];
  let seq = 1;
  const t0ts = Date.now();
  for (let i = 0; i < spec.readings; i++) {
    const level = Math.round((0.5 + i / 1000) * 1000) / 1000;
    const msg = JSON.stringify({ v: 1, id: spec.gauge.id, seq: seq++, ts: t0ts + i * 1000, level_m: level });
    const sent = Date.now();
    await new Promise((res, rej) => pubc.publish(`city/water_level/${spec.gauge.id}/reading`, msg, { qos: 1 }, (e) => (e ? rej(e) : res())));
    await page.waitForFunction(([s, v]) => document.querySelector(s)?.dataset.value === v, [sel, String(level)], { timeout: 15000, polling: 'raf' });
    const got = await page.evaluate((v) => window.takumiDashboard.received.findLast((r) => r.result === v)?.at, level);
    browserMs.push(got - sent);
    for (let k = 0; k < 100 && !subSeen.has(level); k++) await new Promise((r) => setTimeout(r, 10));
    if (subSeen.has(level)) subMs.push(subSeen.get(level) - sent);
    await new Promise((r) => setTimeout(r, 50));
  }
  out.latency = {
    readings: browserMs.length,
    browser_median_ms: median(browserMs), browser_p99_ms: pct(browserMs, 99),
    mqtt_sub_median_ms: median(subMs), mqtt_sub_p99_ms: pct(subMs, 99), mqtt_sub_n: subMs.length,
  };

  // ---- publish -> browser alert ----
  if (spec.alerts) {
    const A = spec.alerts;
    const subAlerts = []; // { at, msg }
    sub.on('message', (topic, payload) => {
      if (topic === `city/alerts/${spec.gauge.id}`) subAlerts.push({ at: Date.now(), msg: JSON.parse(payload.toString()) });
    });
    await new Promise((res, rej) => sub.subscribe(`city/alerts/${spec.gauge.id}`, { qos: 0 }, (e) => (e ? rej(e) : res())));
    await page.evaluate((dev) => {
      window.benchAlertSeen = {}; // alert key -> first time listed highlighted
      const list = document.getElementById('alert-list');
      const stamp = () => {
        for (const li of list.querySelectorAll(`li.new[data-device="${dev}"]`)) {
          if (!(li.dataset.alert in window.benchAlertSeen)) window.benchAlertSeen[li.dataset.alert] = Date.now();
        }
      };
      new MutationObserver(stamp).observe(list, { childList: true, subtree: true, attributes: true });
    }, spec.gauge.id);
    const pub = spawn(A.mosquitto_pub, ['-h', spec.mqtt.host, '-p', String(spec.mqtt.port), '-u', spec.gauge.id,
      '-P', spec.gauge.password, '-t', `city/water_level/${spec.gauge.id}/reading`, '-q', '1', '-l'],
    { stdio: ['pipe', 'ignore', 'pipe'] });
    let pubErr = '';
    pub.stderr.on('data', (d) => { pubErr += d; });
    const waitFor = async (what, f, ms = 15000) => {
      for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 2))) {
        const v = await f();
        if (v) return v;
      }
      throw new Error(`no ${what} within ${ms} ms${pubErr ? `; mosquitto_pub: ${pubErr}` : ''}`);
    };
    const alertBrowser = [];
    const alertSub = [];
    let ts = t0ts + (spec.readings + 60) * 1000;
    try {
      await new Promise((r) => setTimeout(r, 500)); // mosquitto_pub connected
      for (let i = 0; i < A.crossings; i++) {
        const n0 = subAlerts.length;
        const send = (level) => {
          ts += 10000;
          pub.stdin.write(`${JSON.stringify({ v: 1, id: spec.gauge.id, seq: seq++, ts, level_m: level })}\n`);
        };
        const sent = Date.now();
        send(A.high);
        const raised = await waitFor('raised alert on MQTT', () => subAlerts.slice(n0).find((m) => m.msg.event === 'raised'));
        const key = `id:${raised.msg.id}`;
        const seen = await waitFor(`${key} highlighted in the page`, () => page.evaluate((k) => window.benchAlertSeen[k], key));
        alertSub.push(raised.at - sent);
        alertBrowser.push(seen - sent);
        send(A.low);
        await waitFor('cleared alert on MQTT', () => subAlerts.slice(n0).find((m) => m.msg.event === 'cleared' && m.msg.id === raised.msg.id));
        await waitFor(`${key} gone from the page`, () => page.evaluate((k) => !document.querySelector(`#alert-list li[data-alert="${k}"]`), key));
        await new Promise((r) => setTimeout(r, A.gap_ms));
      }
    } finally {
      pub.stdin.end();
      await new Promise((r) => { const t = setTimeout(() => { pub.kill(); r(); }, 5000); pub.on('exit', () => { clearTimeout(t); r(); }); });
    }
    out.alerts = {
      crossings: alertBrowser.length,
      browser_median_ms: median(alertBrowser), browser_p99_ms: pct(alertBrowser, 99),
      mqtt_sub_median_ms: median(alertSub), mqtt_sub_p99_ms: pct(alertSub, 99),
    };
  }
  await ctx.close();
} finally {
  for (const c of clients) c.end(true);
  await browser.close();
}
console.log(JSON.stringify(out));
