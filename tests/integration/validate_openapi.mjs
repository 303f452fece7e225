// node validate_openapi.mjs FILE: validate an OpenAPI 3 document with @apidevtools/swagger-parser
// (the OpenAPI 3.0/3.1 JSON Schema plus its semantic checks: $refs resolve, path parameters
// declared, operationIds unique). Exit 0 when valid; 1 with the validator's message
// otherwise; 2 on usage or load errors.
import { readFileSync } from 'node:fs';

let SwaggerParser;
try {
  SwaggerParser = (await import('@apidevtools/swagger-parser')).default;
} catch (e) {
  console.error(`cannot load @apidevtools/swagger-parser (${e.message}); run "npm ci" in tests/ first`);
  process.exit(2);
}
if (process.argv.length !== 3) {
  console.error('usage: node validate_openapi.mjs FILE');
  process.exit(2);
}
let doc;
try {
  doc = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch (e) {
  console.log(`not JSON: ${e.message}`);
  process.exit(1);
}
try {
  const api = await SwaggerParser.validate(doc);
  console.log(`valid: OpenAPI ${api.openapi}, ${Object.keys(api.paths || {}).length} paths`);
} catch (e) {
  console.log(e.message);
  if (Array.isArray(e.details)) console.log(JSON.stringify(e.details, null, 1));
  process.exit(1);
}
