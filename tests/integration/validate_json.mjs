// node validate_json.mjs SCHEMA FILE: validate one JSON document with ajv (draft 2020-12,
// strict, ajv-formats), as tests/schema/validate.mjs does for the examples. Exit 0 when
// valid; 1 with ajv's errors otherwise; 2 on usage or load errors.
import { readFileSync } from 'node:fs';

let Ajv2020, addFormats;
try {
  Ajv2020 = (await import('ajv/dist/2020.js')).default;
  addFormats = (await import('ajv-formats')).default;
} catch (e) {
  console.error(`cannot load ajv (${e.message}); run "npm ci" in tests/ first`);
  process.exit(2);
}
if (process.argv.length !== 4) {
  console.error('usage: node validate_json.mjs SCHEMA FILE');
  process.exit(2);
}
const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(process.argv[2], 'utf8')));
const doc = JSON.parse(readFileSync(process.argv[3], 'utf8'));
if (!validate(doc)) {
  console.log(ajv.errorsText(validate.errors, { separator: '\n' }));
  process.exit(1);
}
console.log('valid');
