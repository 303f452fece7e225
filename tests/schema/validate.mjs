// Checks that the JSON Schemas in schemas/ and the C parser agree on the wire contract.
//
//   node validate.mjs --schemas DIR --checker PATH [--cases DIR]
//
// 1. Every schema compiles under ajv 8 (draft 2020-12, strict, ajv-formats in full mode),
//    and the examples inside each schema ("examples") are valid.
// 2. Every file in schemas/examples/<schema>/{valid,invalid}/ is classified by ajv as its
//    folder says. A file that is not UTF-8 or not JSON counts as invalid (as it does for the
//    platform, which refuses it before any schema applies).
// 3. For the schemas the C parser implements (reading-*, status, ack), the C checker
//    (tk-check-reading) classifies every example exactly as ajv does.
// 4. With --cases, every parser case in tests/data/readings is classified by ajv as the
//    C parser's expected outcome says, except the few rules JSON Schema cannot express
//    (listed in SCHEMA_BLIND below, each with its reason).
// Exits 1 on any disagreement, listing each.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, basename } from 'node:path';

let Ajv2020, addFormats;
try {
  Ajv2020 = (await import('ajv/dist/2020.js')).default;
  addFormats = (await import('ajv-formats')).default;
} catch (e) {
  console.error(`cannot load ajv (${e.message}); run "npm ci" in tests/ first`);
  process.exit(2);
}

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.schemas || !args.checker) {
  console.error('usage: node validate.mjs --schemas DIR --checker PATH [--cases DIR]');
  process.exit(2);
}

// Minimum example counts: a folder that lost its files must not pass quietly.
const MIN_READING_VALID = 5;
const MIN_READING_INVALID = 10;
const C_CHECKED = (name) => name.startsWith('reading-') || name === 'status' || name === 'ack';

// Parser cases whose outcome depends on something outside the payload's JSON value.
const SCHEMA_BLIND = {
  'bad-id-mismatch': 'id must equal the topic id: the topic is not part of the payload',
  'bad-duplicate-key': 'duplicate keys: JSON.parse keeps the last one, the C parser refuses',
  'bad-batch-over-cap': 'the batch limit is a runtime setting of ingest, not a schema rule',
};

const failures = [];
const fail = (msg) => failures.push(msg);

// strict, except strictRequired: "exactly one of" is written oneOf [{required: [x]}, ...]
// with x declared in the parent schema's properties, which that rule does not look at.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);

function listJson(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dir, f));
}

// The payload as the platform sees it: UTF-8 bytes, then JSON.
function load(path) {
  const bytes = readFileSync(path);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, why: 'not UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, why: `not JSON: ${e.message}` };
  }
}

function ajvVerdict(validate, path) {
  const doc = load(path);
  if (!doc.ok) return { valid: false, why: doc.why };
  const valid = validate(doc.value);
  return { valid, why: valid ? '' : ajv.errorsText(validate.errors) };
}

// Runs the C checker on files; returns Map(file -> {valid, why}).
function cVerdicts(schema, files) {
  const out = new Map();
  if (files.length === 0) return out;
  let stdout;
  try {
    stdout = execFileSync(args.checker, [schema, ...files], { encoding: 'utf8' });
  } catch (e) {
    if (e.status !== 1) throw new Error(`${args.checker} failed: ${e.message}`);
    stdout = e.stdout; // status 1: some file invalid
  }
  for (const line of stdout.split('\n')) {
    if (!line) continue;
    const [file, verdict, pointer, why] = line.split('\t');
    out.set(file, { valid: verdict === 'valid', why: verdict === 'valid' ? '' : `${pointer} ${why}` });
  }
  return out;
}

const schemaFiles = readdirSync(args.schemas).filter((f) => f.endsWith('.schema.json')).sort();
if (schemaFiles.length === 0) fail(`no schemas in ${args.schemas}`);
const validators = new Map();
let readingValid = 0, readingInvalid = 0, checkedC = 0, checkedAjv = 0;

for (const file of schemaFiles) {
  const name = basename(file, '.schema.json');
  let validate;
  try {
    validate = ajv.compile(JSON.parse(readFileSync(join(args.schemas, file), 'utf8')));
  } catch (e) {
    fail(`${file}: does not compile: ${e.message}`);
    continue;
  }
  validators.set(name, validate);
  for (const [i, example] of (validate.schema.examples || []).entries()) {
    if (!validate(example)) fail(`${file}: its examples[${i}] is invalid: ${ajv.errorsText(validate.errors)}`);
  }

  const exDir = join(args.schemas, 'examples', name);
  const groups = { valid: listJson(join(exDir, 'valid')), invalid: listJson(join(exDir, 'invalid')) };
  if (groups.valid.length === 0 || groups.invalid.length === 0)
    fail(`${name}: needs at least one valid and one invalid example in ${exDir}`);
  if (name.startsWith('reading-')) {
    readingValid += groups.valid.length;
    readingInvalid += groups.invalid.length;
  }
  for (const [folder, files] of Object.entries(groups)) {
    const want = folder === 'valid';
    const c = C_CHECKED(name) ? cVerdicts(name, files) : null;
    for (const f of files) {
      const a = ajvVerdict(validate, f);
      checkedAjv++;
      if (a.valid !== want) fail(`${f}: ajv says ${a.valid ? 'valid' : `invalid (${a.why})`}, folder says ${folder}`);
      if (c) {
        const v = c.get(f);
        checkedC++;
        if (!v) fail(`${f}: the C checker gave no verdict`);
        else if (v.valid !== a.valid)
          fail(`${f}: C says ${v.valid ? 'valid' : `invalid (${v.why})`}, ajv says ${a.valid ? 'valid' : `invalid (${a.why})`}`);
      }
    }
  }
}
if (readingValid < MIN_READING_VALID) fail(`only ${readingValid} valid reading examples (want >= ${MIN_READING_VALID})`);
if (readingInvalid < MIN_READING_INVALID) fail(`only ${readingInvalid} invalid reading examples (want >= ${MIN_READING_INVALID})`);

// Parser cases: ajv must agree with the C parser's expected outcome.
let checkedCases = 0;
if (args.cases) {
  for (const c of readdirSync(args.cases).sort()) {
    const dir = join(args.cases, c);
    if (c.startsWith('.') || c.startsWith('_') || !statSync(dir).isDirectory()) continue;
    const topic = readFileSync(join(dir, 'topic'), 'utf8').trim();
    const kind = topic.split('/')[1];
    const validate = validators.get(`reading-${kind}`);
    if (!validate) {
      fail(`case ${c}: no schema for kind '${kind}'`);
      continue;
    }
    let cValid;
    if (existsSync(join(dir, 'error'))) cValid = false;
    else {
      const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
      cValid = !(Array.isArray(exp) ? exp : [exp]).some((e) => 'error' in e);
    }
    const a = ajvVerdict(validate, join(dir, 'input.json'));
    checkedCases++;
    if (c in SCHEMA_BLIND) {
      if (!a.valid) fail(`case ${c}: listed as schema-blind but ajv refuses it (${a.why}); remove it from SCHEMA_BLIND`);
      continue;
    }
    if (a.valid !== cValid)
      fail(`case ${c}: the C parser expects ${cValid ? 'valid' : 'invalid'}, ajv says ${a.valid ? 'valid' : `invalid (${a.why})`}`);
  }
  if (checkedCases < 25) fail(`only ${checkedCases} parser cases in ${args.cases}`);
}

console.log(`${schemaFiles.length} schemas, ${checkedAjv} examples checked with ajv, ${checkedC} with the C checker, ${checkedCases} parser cases`);
if (failures.length) {
  for (const f of failures) console.error(`FAIL ${f}`);
  console.error(`${failures.length} failure(s)`);
  process.exit(1);
}
console.log('all agree');
