// Bundle the dashboard into static files for takumi-api --static DIR.
//
//   node build.mjs [--out DIR]      (default ../build/dashboard)
//
// esbuild bundles src/main.js with Leaflet, uPlot and mqtt.js (from node_modules, pinned in
// package-lock.json) and their CSS into assets/ with content hashes in the names, so the
// API can let browsers cache them for a year; index.html is written with those names and
// is revalidated on every load. Every compressible file also gets a FILE.gz beside it (the
// API sends those bytes to clients that accept gzip). Nothing is fetched at run time: the
// map background is the GeoJSON in src/geo, bundled into the script.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const oi = args.indexOf('--out');
const out = resolve(oi >= 0 ? args[oi + 1] : join(here, '..', 'build', 'dashboard'));

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  loader: { '.png': 'file', '.svg': 'file', '.geojson': 'json' },
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => relative(out, resolve(p)));
const js = outputs.find((p) => p.endsWith('.js'));
const css = outputs.find((p) => p.endsWith('.css'));
if (!js || !css) throw new Error(`bundle incomplete: ${outputs.join(', ')}`);
const html = readFileSync(join(here, 'src', 'index.html'), 'utf8')
  .replace('@CSS@', css)
  .replace('@JS@', js);
writeFileSync(join(out, 'index.html'), html);

let plain = 0;
let gz = 0;
const walk = (d) => {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) { walk(p); continue; }
    const buf = readFileSync(p);
    plain += buf.length;
    if (/\.(html|js|css|json|svg|txt)$/.test(name)) {
      const z = gzipSync(buf, { level: constants.Z_BEST_COMPRESSION });
      writeFileSync(p + '.gz', z);
      gz += z.length;
    } else {
      gz += buf.length;
    }
  }
};
walk(out);
console.log(`dashboard: ${out} (${plain} bytes, ${gz} gzipped)`);
