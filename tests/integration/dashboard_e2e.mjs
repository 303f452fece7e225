// The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
// against the real stack test_dashboard.py started. Readings and alerts are published with
// the stock mosquitto_pub.
//
//   node dashboard_e2e.mjs SPEC.json
//
// SPEC: { url, artifacts, mqtt: {host, port}, devices: [{id, kind}],
//         gauge: {id, password, mount_height_m}, counter: {id, password},
//         areas: {flow: {AREA: N}, wifi: {AREA: N}}, alert_user, alert_password,
//         engine: {gauge, password} (only when the ingest has the alert engine) }
// Every wait is bounded; the browser is closed on every path. Exit 0 when every check
// passed; otherwise the failing check on stderr and exit 1.
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
mkdirSync(spec.artifacts, { recursive: true });
const WAIT = 15000;
const problems = []; // console errors and page errors
let seq = 1000;

function pub(user, password, topic, payload) {
  execFileSync('mosquitto_pub', ['-h', spec.mqtt.host, '-p', String(spec.mqtt.port), '-u', user,
    '-P', password, '-t', topic, '-q', '1', '-m', JSON.stringify(payload)], { timeout: 10000 });
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok ${what}`);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'], timeout: 30000,
});
let page;
try {
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(WAIT);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  const outside = [];
  const origin = new URL(spec.url).origin;
  const local = (u) => u.startsWith(origin) || u.startsWith(`blob:${origin}/`) || u.startsWith('data:')
    || u.startsWith(`ws://${new URL(spec.url).hostname}:`);
  page.on('request', (r) => { if (!local(r.url())) outside.push(r.url()); });

  // 1. the page loads, in Japanese unless asked otherwise, with a marker per device
  await page.goto(`${spec.url}?lang=ja`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.takumiDashboard?.ready || window.takumiDashboard?.error);
  const probe = await page.evaluate(() => ({ ...window.takumiDashboard, received: null }));
  check(!probe.error, `the page loaded its data (${probe.error || 'no error'})`);
  check(await page.getAttribute('html', 'lang') === 'ja', 'lang="ja" by default with ?lang=ja');
  const ids = await page.$$eval('.tk-marker[data-device]', (els) => els.map((e) => e.dataset.device));
  for (const d of spec.devices) check(ids.includes(d.id), `a marker for ${d.id}`);
  check(ids.length === spec.devices.length, `${spec.devices.length} markers (got ${ids.length})`);
  await page.waitForFunction(() => window.takumiDashboard.live);
  check(true, 'live over MQTT/WebSockets');
  await page.screenshot({ path: join(spec.artifacts, 'dashboard-loaded.png') });

  // 2. a reading published with mosquitto_pub updates the right marker, and its state
  const g = spec.gauge;
  const sel = `.tk-marker[data-device="${g.id}"]`;
  const level = 1.234;
  // stamped 20 minutes ahead: no earlier reading within 10 minutes, so an alert engine sees
  // no fast rise in it (the gauge's seed readings are 1 to 3 minutes old)
  const ahead = Date.now() + 20 * 60000;
  pub(g.id, g.password, `city/water_level/${g.id}/reading`,
    { v: 1, id: g.id, seq: seq++, ts: ahead, level_m: level });
  await page.waitForFunction(([s, v]) => document.querySelector(s)?.dataset.value === v, [sel, String(level)]);
  check(true, `${g.id}'s marker shows ${level} m`);
  check(await page.getAttribute(sel, 'data-state') === 'normal', 'below caution: normal');
  const others = await page.$$eval('.tk-marker[data-kind="water_level"]', (els, id) =>
    els.filter((e) => e.dataset.device !== id).map((e) => e.dataset.value), g.id);
  check(!others.includes(String(level)), 'no other marker took the value');
  const warning = Math.round(0.75 * g.mount_height_m * 1000) / 1000; // above 70 %, below 85 %
  pub(g.id, g.password, `city/water_level/${g.id}/reading`,
    { v: 1, id: g.id, seq: seq++, ts: ahead + 60000, level_m: warning });
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.state === 'warning', sel);
  check(true, `${g.id} at ${warning} m is drawn as warning`);
  const row = await page.textContent(`#gauge-table tr[data-device="${g.id}"]`);
  check(row.includes('警戒'), `the gauge list says 警戒 (${row.trim()})`);

  // people flow and Wi-Fi per area, and a counter's reading moving its area's total
  for (const [kind, attr] of [['flow', 'data-flow'], ['wifi', 'data-wifi']]) {
    for (const [area, n] of Object.entries(spec.areas[kind])) {
      const v = await page.getAttribute(`#area-table tr[data-area="${area}"] td[${attr}]`, attr);
      check(Number(v) === n, `${kind} in area ${area}: ${n} (got ${v})`);
    }
  }
  const c = spec.counter;
  pub(c.id, c.password, `city/people_flow/${c.id}/reading`,
    { v: 1, id: c.id, seq: seq++, ts: Date.now(), interval_s: 900, in: 30, out: 20 });
  const eki = Object.keys(spec.areas.flow)[0];
  const want = spec.areas.flow[eki] - 25 + 50; // the counter's 14 + 11 replaced by 30 + 20
  await page.waitForFunction(([a, n]) => Number(document.querySelector(`#area-table tr[data-area="${a}"] td[data-flow]`)
    ?.getAttribute('data-flow')) === n, [eki, want]);
  check(true, `${c.id}'s new reading moves area ${eki}'s flow to ${want}`);

  // 3. an alert on city/alerts/ID shows in the list, highlighted as new
  const now = new Date().toISOString();
  pub(spec.alert_user, spec.alert_password, `city/alerts/${g.id}`, {
    v: 1, id: 4242, device_id: g.id, name: g.id, location: { lat: 34.39, lon: 132.45 },
    condition: 'level', state: 'active', event: 'raised', severity: 'danger',
    severity_max: 'danger', value: 2.9, threshold: 2.72, unit: 'm', start: now, end: null,
    peak: { value: 2.9, time: now }, updated: now, rev: 1,
  });
  const item = '#alert-list li[data-alert="id:4242"]';
  await page.waitForSelector(item);
  check(await page.$eval(item, (e) => e.dataset.device === 'wl-dash-2' && e.dataset.severity === 'danger'), 'the alert is listed as danger for its gauge');
  check(await page.$eval(item, (e) => e.classList.contains('new')), 'the new alert is highlighted');
  check(await page.getAttribute(sel, 'data-state') === 'danger', 'the alert turns the marker danger');
  const count = Number(await page.textContent('#alert-count'));
  check(count === await page.$$eval('#alert-list li', (l) => l.length) && count >= 1, `the count says ${count}`);
  await page.screenshot({ path: join(spec.artifacts, 'dashboard-alert.png') });
  // cleared: it leaves the list
  pub(spec.alert_user, spec.alert_password, `city/alerts/${g.id}`, {
    v: 1, id: 4242, device_id: g.id, name: g.id, location: { lat: 34.39, lon: 132.45 },
    condition: 'level', state: 'cleared', event: 'cleared', severity: 'caution',
    severity_max: 'danger', value: 1.0, threshold: 1.6, unit: 'm', start: now, end: now,
    peak: { value: 2.9, time: now }, updated: now, rev: 2,
  });
  await page.waitForFunction((s) => !document.querySelector(s), item);
  check(true, 'a cleared alert leaves the list');

  // the alert engine (when the ingest has it): a reading above warning raises a real alert
  if (spec.engine) {
    const e = spec.engine;
    pub(e.gauge, e.password, `city/water_level/${e.gauge}/reading`,
      { v: 1, id: e.gauge, seq: seq++, ts: Date.now() + 2000, level_m: warning });
    await page.waitForSelector(`#alert-list li[data-device="${e.gauge}"][data-kind="level"]`);
    check(true, `the alert engine's level alert for ${e.gauge} shows in the list`);
    // a page loaded later starts from GET /alerts?state=active
    await page.reload({ waitUntil: 'load' });
    await page.waitForFunction(() => window.takumiDashboard?.ready && window.takumiDashboard.live);
    check(await page.$(`#alert-list li[data-device="${e.gauge}"][data-kind="level"]`) !== null,
      'a fresh page lists the active alert from /alerts');
  }

  // 4. the keyboard reaches a marker; Enter opens its details with a history chart
  await page.focus('#lang');
  let reached = null;
  for (let i = 0; i < 60 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.dataset?.device || null);
  }
  check(reached, `Tab reaches a marker (${reached})`);
  await page.keyboard.press('Enter');
  await page.waitForFunction((id) => !document.getElementById('details').hidden
    && document.getElementById('details-h').textContent.includes(id), reached);
  check(true, `Enter opens the details of ${reached}`);
  await page.click(`#gauge-table button[data-device="${g.id}"]`);
  await page.waitForSelector('#chart canvas');
  check(true, `a history chart (uPlot) for ${g.id} from the aggregation extension`);
  // a live update redraws the gauge list without taking the keyboard focus out of it
  await page.focus(`#gauge-table button[data-device="${g.id}"]`);
  pub(g.id, g.password, `city/water_level/${g.id}/reading`,
    { v: 1, id: g.id, seq: seq++, ts: ahead + 120000, level_m: 1.5 });
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.value === '1.5', sel);
  const focused = await page.evaluate(() => (document.activeElement?.closest('#gauge-table')
    ? document.activeElement.dataset.device : null));
  check(focused === g.id, `the focus stays on ${g.id} in the gauge list (${focused})`);
  await page.screenshot({ path: join(spec.artifacts, 'dashboard-details.png') });

  // 5. English labels with the toggle
  await page.click('#lang');
  check(await page.getAttribute('html', 'lang') === 'en', 'the toggle sets lang="en"');
  check((await page.textContent('#alerts-h')).includes('Alerts'), 'English headings');
  await page.screenshot({ path: join(spec.artifacts, 'dashboard-en.png') });

  check(outside.length === 0, `nothing fetched from elsewhere (${outside.join(', ')})`);
  check(problems.length === 0, `no console errors (${problems.join(' | ')})`);
  console.log('dashboard e2e: all checks passed');
} catch (e) {
  if (page) await page.screenshot({ path: join(spec.artifacts, 'dashboard-failure.png') }).catch(() => {});
  console.error(e.stack || String(e));
  if (problems.length) console.error(`console problems: ${problems.join(' | ')}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
