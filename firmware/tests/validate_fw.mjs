// Validates the firmware encoder's payloads with ajv against schemas/ (the same ajv
// setup as tests/schema/validate.mjs, loaded from tests/node_modules).
//
//   node validate_fw.mjs --top DIR --dump PATH-TO-fw-encode-dump
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const require = createRequire(join(args.top, 'tests', 'package.json'));
let Ajv2020, addFormats;
try {
  Ajv2020 = require('ajv/dist/2020.js');
  addFormats = require('ajv-formats');
} catch (e) {
  console.error(`cannot load ajv (${e.message}); run "npm ci" in tests/ first`);
  process.exit(2);
}
const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);
const validators = {};
for (const name of ['reading-water_level', 'reading-people_flow', 'reading-wifi_ap', 'status']) {
  validators[name] = ajv.compile(JSON.parse(readFileSync(join(args.top, 'schemas', `${name}.schema.json`), 'utf8')));
}
const out = execFileSync(args.dump, ['dump', '200'], { encoding: 'utf8', maxBuffer: 64 << 20 });
const counts = {};
let failures = 0;
for (const line of out.split('\n')) {
  if (!line) continue;
  const tab = line.indexOf('\t');
  const schema = line.slice(0, tab), payload = line.slice(tab + 1);
  const validate = validators[schema];
  if (!validate) { console.error(`unknown schema ${schema}`); failures++; continue; }
  counts[schema] = (counts[schema] || 0) + 1;
  if (!validate(JSON.parse(payload))) {
    failures++;
    console.error(`FAIL ${schema}: ${ajv.errorsText(validate.errors)}\n  ${payload}`);
  }
}
for (const name of Object.keys(validators)) {
  if (!counts[name]) { console.error(`no payloads for ${name}`); failures++; }
}
console.log(JSON.stringify(counts));
process.exit(failures ? 1 : 0);
