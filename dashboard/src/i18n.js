// Japanese and English labels. The page starts in the language of ?lang=, else the last
// choice (localStorage), else the browser's; the toggle switches and sets <html lang>.
const STRINGS = {
  ja: {
    title: '広島デルタ 都市センサー', skip: '一覧へ移動', loading: '読み込み中…', map: '地図',
    alerts: '警報・注意報', no_alerts: '発表中の警報はありません', close: '閉じる',
    areas: 'エリア別の人流・Wi-Fi', area: 'エリア', flow: '人流（直近の計測）',
    wifi: 'Wi-Fi 端末数', gauges: '水位計', sensor: 'センサー', level: '水位', state: '状態',
    other_area: 'その他', live: 'ライブ更新中', reconnecting: '再接続中…',
    no_live: 'ライブ更新なし', devices: '台', lang_button: 'English',
    in: '入', out: '出', people: '人', terminals: '台',
    normal: '平常', caution: '注意', warning: '警戒', danger: '危険', silent: '途絶',
    water_level: '水位計', people_flow: '人流カウンター', wifi_ap: '公衆Wi-Fi',
    kind_level: '水位', kind_rise: '急上昇', kind_silence: '途絶',
    raised: '発表', cleared: '解除', updated: '更新', peak: '最高',
    bands: '基準水位', latest: '最新', at: '時刻', history: '履歴（1分平均）',
    no_history: '履歴データはまだありません', chart_label: '{name} の履歴グラフ',
    unique_devices: '端末数', associated: '接続中', people_in: '入', people_out: '出',
    m: 'm', marker_label: '{name}（{kind}）：{state} {value}',
    load_error: 'データを読み込めませんでした: {msg}',
  },
  en: {
    title: 'Hiroshima Delta City Sensors', skip: 'Skip to lists', loading: 'Loading…', map: 'Map',
    alerts: 'Alerts', no_alerts: 'No active alerts', close: 'Close',
    areas: 'People flow and Wi-Fi by area', area: 'Area', flow: 'People flow (last interval)',
    wifi: 'Wi-Fi devices', gauges: 'Water-level gauges', sensor: 'Sensor', level: 'Level',
    state: 'State', other_area: 'Other', live: 'Live', reconnecting: 'Reconnecting…',
    no_live: 'No live updates', devices: 'devices', lang_button: '日本語',
    in: 'in', out: 'out', people: 'people', terminals: 'devices',
    normal: 'Normal', caution: 'Caution', warning: 'Warning', danger: 'Danger', silent: 'Silent',
    water_level: 'Water-level gauge', people_flow: 'People counter', wifi_ap: 'Public Wi-Fi',
    kind_level: 'level', kind_rise: 'fast rise', kind_silence: 'silence',
    raised: 'raised', cleared: 'cleared', updated: 'updated', peak: 'peak',
    bands: 'Alert levels', latest: 'Latest', at: 'at', history: 'History (1-minute averages)',
    no_history: 'No history yet', chart_label: 'History chart of {name}',
    unique_devices: 'devices', associated: 'associated', people_in: 'in', people_out: 'out',
    m: 'm', marker_label: '{name} ({kind}): {state} {value}',
    load_error: 'Could not load the data: {msg}',
  },
};

let lang = 'ja';

export function initLang() {
  const q = new URLSearchParams(location.search).get('lang');
  let saved = null;
  try { saved = localStorage.getItem('takumi.lang'); } catch { /* private mode */ }
  const nav = (navigator.language || 'ja').toLowerCase();
  lang = [q, saved, nav.startsWith('ja') ? 'ja' : 'en'].find((l) => l === 'ja' || l === 'en');
  apply();
}

export function getLang() { return lang; }

export function toggleLang() {
  lang = lang === 'ja' ? 'en' : 'ja';
  try { localStorage.setItem('takumi.lang', lang); } catch { /* private mode */ }
  apply();
}

export function t(key, vars) {
  let s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

/** A feature's name in the current language (name_ja / name_en properties). */
export function nameOf(props) {
  return (lang === 'ja' ? props.name_ja : props.name_en) || props.name_en || props.name_ja || '';
}

function apply() {
  document.documentElement.lang = lang;
  document.title = t('title');
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  const b = document.getElementById('lang');
  if (b) b.textContent = t('lang_button');
}
