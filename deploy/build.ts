import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';

// `npm run build`: a minified ESM bundle of the CLI (gateway/cli/bundle-entry.ts: it turns on V8's
// compile cache, then imports gateway/cli/main.ts) with source maps, the
// prebuilt serialport addons next to it, and one release tarball per target architecture:
//
//   dist/fieldgate-<version>-linux-<arch>.tar.gz
//     fieldgate-<version>-linux-<arch>/
//       bin/fieldgate                 sh wrapper: exec node ../lib/fieldgate.mjs "$@"
//       lib/fieldgate.mjs(.map)       the bundle's entry, a few lines (it names its map, for --enable-source-maps)
//       lib/fieldgate-*.mjs(.map)     its chunks: what is behind a dynamic import() (each adapter,
//                                     the HTTP API, doctor) and what they share, loaded when used
//       lib/www/                      the status page (plain HTML/CSS/JS the HTTP API serves)
//       lib/native/serialport/prebuilds/linux-<arch>/*.node
//       lib/native/bluetooth-hci-socket/prebuilds/linux-<arch>/*.node   (BLE: noble's HCI socket)
//       share/fieldgate.example.yaml, share/doc/raspberry-pi.md, share/doc/THIRD-PARTY-LICENSES.txt
//       systemd/fieldgate.service (+ ble.conf drop-in), udev/99-fieldgate.rules
//       install.sh, VERSION
//
// Nothing is compiled: serialport and @stoprocent/bluetooth-hci-socket publish prebuilt N-API addons
// inside their npm packages (node-gyp-build layout), so a Pi needs neither a compiler nor network
// access to install.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ARCHES = ['arm64', 'arm', 'x64'] as const;
export type Arch = (typeof ARCHES)[number];

/** The bundle's path inside a release tree; the serialport shim below finds addons next to it. */
const BUNDLE_REL = 'lib/fieldgate.mjs';

// ESM output still contains bundled CommonJS packages that call require() and read __dirname;
// Node defines neither in an ES module, so the bundle defines them once, from its own location.
const BANNER = [
  '#!/usr/bin/env node',
  "import { createRequire as __fgCreateRequire } from 'node:module';",
  "import { fileURLToPath as __fgFileURLToPath } from 'node:url';",
  "import { dirname as __fgDirname } from 'node:path';",
  'const require = __fgCreateRequire(import.meta.url);',
  'const __filename = __fgFileURLToPath(import.meta.url);',
  'const __dirname = __fgDirname(__filename);',
].join('\n');

/**
 * @serialport/bindings-cpp loads its addon with node-gyp-build(join(__dirname, '../')), which in a
 * bundle would point at whatever happens to sit above lib/. Point it at lib/native/serialport
 * explicitly (the banner's __dirname is the bundle's directory).
 */
const serialportAddon: Plugin = {
  name: 'serialport-prebuilds',
  setup(b) {
    b.onLoad({ filter: /[\\/]@serialport[\\/]bindings-cpp[\\/]dist[\\/]serialport-bindings\.js$/ }, () => ({
      loader: 'js',
      contents: [
        '"use strict";',
        'Object.defineProperty(exports, "__esModule", { value: true });',
        '// fieldgate bundle: prebuilt addons live in <bundle dir>/native/serialport/prebuilds/<platform>-<arch>/.',
        'exports.binding = require("node-gyp-build")(require("path").join(__dirname, "native", "serialport"));',
      ].join('\n'),
    }));
  },
};

function hciSocketPrebuilds(): string {
  // Through noble, which depends on it (optionally), so the copy noble loads is the one shipped.
  const fromNoble = createRequire(createRequire(join(ROOT, 'package.json')).resolve('@stoprocent/noble'));
  return join(dirname(fromNoble.resolve('@stoprocent/bluetooth-hci-socket/package.json')), 'prebuilds');
}

/**
 * @stoprocent/bluetooth-hci-socket (noble's HCI socket) loads its addon with
 * node-gyp-build(resolve(__dirname, '..')), which in a bundle is the release root. Point it at
 * lib/native/bluetooth-hci-socket instead. Fails the build if the package stops loading it that way.
 */
const hciSocketAddon: Plugin = {
  name: 'hci-socket-prebuilds',
  setup(b) {
    b.onLoad({ filter: /[\\/]@stoprocent[\\/]bluetooth-hci-socket[\\/]lib[\\/]native\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const from = "require('node-gyp-build')(dir)";
      if (!text.includes(from)) throw new Error(`${args.path} no longer loads its addon with ${from}: update deploy/build.ts`);
      return { loader: 'js', contents: text.replace(from, "require('node-gyp-build')(require('path').join(__dirname, 'native', 'bluetooth-hci-socket'))"), resolveDir: dirname(args.path) };
    });
  },
};

/**
 * Two rewrites of our own sources, for the bundle only:
 *
 * - They load a few CommonJS-only package internals through `createRequire(import.meta.url)`
 *   (gateway/broker/session-queue.ts). esbuild cannot follow a require function it did not define,
 *   so the bundle would look for node_modules on the Pi at run time. Dropping that local binding
 *   leaves plain require() calls, which esbuild bundles like any other import.
 * - A dynamic `import('pkg')` of a CommonJS package (serialport in doctor, prom-client's process
 *   metrics) gets Node's named exports from the package (`{ SerialPort }`), but a split bundle's
 *   chunk for it exports only `default` (esbuild's splitting output). Each such import is given the
 *   package's exports as named ones again, as Node does: `import('pkg').then(namedExports)`.
 */
const NAMED_EXPORTS = '((m) => (Object.keys(m).length === 1 && m.default && typeof m.default === "object" ? { ...m.default, default: m.default } : m))';
const PACKAGE_IMPORT = /\bimport\((['"])(?!node:)([^'"./][^'"]*)\1\)/g;
const sourceRewrites: Plugin = {
  name: 'source-rewrites',
  setup(b) {
    b.onLoad({ filter: /[\\/](gateway|adapters)[\\/].*\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const requires = text.includes('createRequire(import.meta.url)');
      const imports = text.search(PACKAGE_IMPORT) >= 0;
      if (!requires && !imports) return undefined;
      let out = requires ? text.replace(/^const require = createRequire\(import\.meta\.url\);$/m, '') : text;
      if (imports) out = out.replace(PACKAGE_IMPORT, (_m, q: string, pkg: string) => `import(${q}${pkg}${q}).then(${NAMED_EXPORTS})`);
      return { loader: 'ts', contents: out };
    });
  },
};

/**
 * zod 4 re-exports every message locale (about 40 languages) from its namespace object, so the
 * bundle would carry all of them although fieldgate only reports in English (zod's default).
 * Keep just `en`: the bundle shrinks and there is less to parse at start on a Pi.
 */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      loader: 'js',
      contents: 'export { default as en } from "./en.js";',
      resolveDir: dirname(args.path),
    }));
  },
};

/**
 * fastify requires its default schema compilers (ajv, fast-json-stringify: 59% of the HTTP API's
 * chunk) only when no compilersFactory is given; gateway/http/server.ts gives its own, so they never
 * run, but parsing them cost start-up time (issue 16). Left out of the bundle: a fastify instance
 * built without the factories fails at once with this message instead of validating nothing.
 */
const fastifyOwnCompilers: Plugin = {
  name: 'fastify-own-compilers',
  setup(b) {
    b.onLoad({ filter: /[\\/]@fastify[\\/](ajv-compiler|fast-json-stringify-compiler)[\\/]index\.js$/ }, () => ({
      loader: 'js',
      contents: 'throw new Error("the bundle leaves out fastify\'s default schema compilers: give fastify schemaController.compilersFactory (gateway/http/server.ts)");',
    }));
  },
};

/**
 * Two modules fastify requires at load time and fieldgate never uses, made lazy (loaded on first
 * use, as before, if an option ever needs them): node:http2 (fastify/lib/server.js, only for the
 * `http2` option: Node.js compiles ~20 internal modules for it, ~12 ms on x64 Node 20) and semver
 * (fastify/lib/plugin-utils.js, only to check the version a registered plugin declares; we register
 * none: 29 KB of the HTTP chunk). The build fails if an upgrade changes either line, or uses
 * either module in a way the stand-in does not cover (hw-test/deploy.test.ts checks the result).
 */
const LAZY_FASTIFY_REQUIRES: { file: RegExp; from: string; to: string; uses: RegExp; allowed: RegExp }[] = [
  {
    file: /[\\/]fastify[\\/]lib[\\/]server\.js$/,
    from: "const http2 = require('node:http2')",
    to: "const http2 = { createServer: (...a) => require('node:http2').createServer(...a), createSecureServer: (...a) => require('node:http2').createSecureServer(...a) }",
    uses: /\bhttp2\.(\w+)/g,
    allowed: /^(createServer|createSecureServer|Http2Server|Http2Session)$/, // the last two: JSDoc types only
  },
  {
    file: /[\\/]fastify[\\/]lib[\\/]plugin-utils\.js$/,
    from: "const semver = require('semver')",
    to: "const semver = { gt: (...a) => require('semver').gt(...a), coerce: (...a) => require('semver').coerce(...a), satisfies: (...a) => require('semver').satisfies(...a) }",
    uses: /\bsemver\.(\w+)/g,
    allowed: /^(gt|coerce|satisfies)$/,
  },
];
const fastifyLazyRequires: Plugin = {
  name: 'fastify-lazy-requires',
  setup(b) {
    for (const r of LAZY_FASTIFY_REQUIRES) {
      b.onLoad({ filter: r.file }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes(r.from)) throw new Error(`${args.path} no longer has "${r.from}": update deploy/build.ts (fastify-lazy-requires)`);
        const other = [...text.matchAll(r.uses)].map((m) => m[1]!).filter((u) => !r.allowed.test(u));
        if (other.length) throw new Error(`${args.path} now uses ${[...new Set(other)].join(', ')} of a module the bundle loads lazily: update deploy/build.ts (fastify-lazy-requires)`);
        return { loader: 'js', contents: text.replace(r.from, r.to), resolveDir: dirname(args.path) };
      });
    }
  },
};

/**
 * gateway/metrics/metrics.ts keeps every metric in prom-client's Registry, Counter, Gauge and
 * Histogram, which every start loads. prom-client's index also loads, at once, its process
 * metrics (perf_hooks, v8), the cluster aggregator (node:cluster), the Pushgateway (http, https)
 * and @opentelemetry/api: ~1.4 MB of V8 heap and ~50 ms of CPU (x64, Node 20) that only the HTTP
 * API's /metrics uses, through a lazy import('prom-client') (gateway/http/gateway-view.ts) that
 * still gets the whole package. So metrics.ts, and only it, gets these four classes from
 * prom-client's own files (the same modules the index exports: one Registry class in the bundle).
 * The build fails if metrics.ts imports anything else from prom-client.
 */
const PROM_CORE = { Registry: 'registry', Counter: 'counter', Gauge: 'gauge', Histogram: 'histogram' } as const;
const promClientCore: Plugin = {
  name: 'prom-client-core',
  setup(b) {
    b.onResolve({ filter: /^prom-client$/ }, (args) => {
      if (args.kind !== 'import-statement' || !/[\\/]gateway[\\/]metrics[\\/]metrics\.ts$/.test(args.importer)) return undefined;
      const clause = /import\s*\{([^}]*)\}\s*from\s*'prom-client'/.exec(readFileSync(args.importer, 'utf8'))?.[1];
      const names = (clause ?? '').split(',').map((n) => n.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!).filter(Boolean);
      const other = names.filter((n) => !(n in PROM_CORE));
      if (!clause || other.length) throw new Error(`${args.importer} imports ${other.join(', ') || 'prom-client in a new way'}: add it to PROM_CORE in deploy/build.ts (prom-client-core)`);
      return { path: 'prom-client-core', namespace: 'fieldgate-prom-client-core' };
    });
    b.onLoad({ filter: /.*/, namespace: 'fieldgate-prom-client-core' }, () => ({
      loader: 'js',
      contents: `module.exports = { ${Object.entries(PROM_CORE).map(([k, f]) => `${k}: require('prom-client/lib/${f}')`).join(', ')} };`,
      resolveDir: ROOT,
    }));
  },
};

/**
 * `debug` (used by MQTT.js, mqtt-packet, serialport and noble; node-coap, a test client only, is not
 * in the bundle) costs something on every call even when disabled: its rest parameters allocate an array and its `enabled` getter runs each time.
 * mqtt-packet and MQTT.js call it a dozen times per packet: replacing it took the gateway's CPU per
 * bridged message (local MQTT -> log -> upstream) from 55 to 41 us in bench/scenarios/bridge-durable. The bundle gets a no-op in its place unless DEBUG is
 * set when the process starts, so `DEBUG=mqttjs* fieldgate start` still traces as documented.
 */
const debugOnlyWhenAsked: Plugin = {
  name: 'debug-only-when-asked',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]debug[\\/]src[\\/]index\.js$/ }, (args) => ({
      loader: 'js',
      contents: `
if (process.env.DEBUG) {
  module.exports = require('./node.js');
} else {
  const off = () => {};
  const make = (namespace) => {
    const d = () => {};
    d.namespace = namespace;
    d.enabled = false;
    d.log = off;
    d.destroy = () => true;
    d.extend = (sub, delimiter = ':') => make(namespace + delimiter + sub);
    return d;
  };
  make.debug = make.default = make;
  make.enable = off;
  make.disable = () => '';
  make.enabled = () => false;
  make.coerce = (v) => v;
  make.formatters = {};
  make.names = [];
  make.skips = [];
  module.exports = make;
}
`,
      resolveDir: dirname(args.path),
    }));
  },
};

export interface BuildResult {
  /** The entry, lib/fieldgate.mjs. */
  bundle: string;
  /** The entry and its chunks together. */
  bundleBytes: number;
  /** How many chunk files beside the entry. */
  chunks: number;
  tarballs: { arch: Arch; path: string; bytes: number }[];
}

export interface BuildOptions {
  /** Output directory (default dist/ in the repo). */
  out?: string;
  /** Architectures to package (default all). */
  arches?: readonly Arch[];
  /** Skip the tarballs: only the bundle and release trees (tests that just need to run it). */
  tarballs?: boolean;
}

function version(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The time the bundle records as its build time (doctor's clock check: a clock before it is
 * certainly wrong). The commit's date rather than now, so two builds of one commit are identical;
 * SOURCE_DATE_EPOCH wins when set (the reproducible-builds convention).
 */
function buildTime(): string {
  if (process.env.SOURCE_DATE_EPOCH) return new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString();
  try {
    const iso = execFileSync('git', ['log', '-1', '--format=%cI'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (iso) return new Date(iso).toISOString();
  } catch {
    // not a git checkout (a source tarball): fall through
  }
  return new Date().toISOString();
}

function prebuildsDir(): string {
  // Resolve through serialport, the package we depend on, so a hoisting change cannot pick another copy.
  const fromSerialport = createRequire(createRequire(join(ROOT, 'package.json')).resolve('serialport'));
  return join(dirname(fromSerialport.resolve('@serialport/bindings-cpp/package.json')), 'prebuilds');
}

/**
 * The licence texts of every npm package that ended up in the bundle, from esbuild's metafile:
 * their MIT/ISC/BSD terms require the notice to travel with copies, and a minified bundle has
 * none of the original files.
 */
function thirdPartyLicenses(inputs: string[]): string {
  const dirs = new Set<string>();
  for (const input of inputs) {
    const m = /^(.*node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+)/.exec(resolve(ROOT, input));
    if (m) dirs.add(m[1]!);
  }
  const parts: string[] = [];
  for (const dir of [...dirs].sort()) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string; license?: string };
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `(no licence file in the package; package.json says: ${pkg.license ?? 'unspecified'})`;
    parts.push(`${pkg.name}@${pkg.version} (${pkg.license ?? 'unspecified'})\n\n${text}\n`);
  }
  return `Third-party software bundled in lib/fieldgate.mjs (${parts.length} npm packages)\n\n${parts.join(`\n${'-'.repeat(72)}\n\n`)}`;
}

/** The bundle's files in its directory: the entry, its chunks and their maps. */
export function bundleFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /^fieldgate(-[\w-]+)?\.mjs(\.map)?$/.test(f)).sort();
}

/**
 * Builds the bundle into `<out>/bundle/`: the entry fieldgate.mjs and its chunks beside it.
 *
 * Split at every dynamic import() (esbuild's `splitting`) rather than one file, for memory on a Pi:
 * V8 parses a whole script at once, and parsing the 2.5 MB single-file bundle took 17.7 MB of
 * malloc'd parser memory at its peak, which glibc kept as process heap afterwards (20 MB of RSS
 * for the life of the process). Chunks are parsed one by one, and a disabled adapter's or the
 * HTTP API's chunk is never read (docs/raspberry-pi.md, "Memory"). The chunks sit in the entry's
 * directory, so the banner's __dirname and `import.meta.url` (the status page's www/) are the same
 * in all of them.
 */
async function bundle(out: string): Promise<string> {
  const dir = join(out, 'bundle');
  rmSync(dir, { recursive: true, force: true });
  const outfile = join(dir, 'fieldgate.mjs');
  const result = await build({
    metafile: true,
    absWorkingDir: ROOT,
    entryPoints: { fieldgate: join(ROOT, 'gateway/cli/bundle-entry.ts') },
    outdir: dir,
    splitting: true,
    chunkNames: 'fieldgate-[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    // 'linked': the bundle ends with a sourceMappingURL comment naming fieldgate.mjs.map, which
    // NODE_OPTIONS=--enable-source-maps needs to find the map ('external' writes the map only).
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    banner: { js: BANNER },
    // ws tries these optional native speed-ups inside try/catch; we do not ship them. noble and its
    // HCI socket require these only for bindings fieldgate never selects (BlueZ D-Bus, raw USB
    // dongles): never loaded on Linux with the default HCI socket.
    external: ['bufferutil', 'utf-8-validate', 'dbus-next', 'usb'],
    define: { 'globalThis.__FIELDGATE_BUILD_TIME__': JSON.stringify(buildTime()) },
    plugins: [serialportAddon, hciSocketAddon, sourceRewrites, zodEnglishOnly, debugOnlyWhenAsked, fastifyOwnCompilers, fastifyLazyRequires, promClientCore],
    logLevel: 'warning',
  });
  chmodSync(outfile, 0o755);
  // The status page is plain files the HTTP API reads from `www/` next to the bundle.
  cpSync(join(ROOT, 'gateway', 'http', 'www'), join(dir, 'www'), { recursive: true });
  writeFileSync(join(dir, 'THIRD-PARTY-LICENSES.txt'), thirdPartyLicenses(Object.keys(result.metafile.inputs)));
  return outfile;
}

/** Lays out one release tree `<out>/fieldgate-<version>-linux-<arch>/`. */
function releaseTree(out: string, bundleFile: string, arch: Arch): string {
  const name = `fieldgate-${version()}-linux-${arch}`;
  const dir = join(out, name);
  rmSync(dir, { recursive: true, force: true });
  const lib = join(dir, 'lib');
  mkdirSync(lib, { recursive: true });
  for (const f of bundleFiles(dirname(bundleFile))) copyFileSync(join(dirname(bundleFile), f), join(dir, dirname(BUNDLE_REL), f));
  cpSync(join(dirname(bundleFile), 'www'), join(lib, 'www'), { recursive: true });
  const src = join(prebuildsDir(), `linux-${arch}`);
  if (!existsSync(src)) throw new Error(`no serialport prebuilds for linux-${arch} in ${src}: is serialport installed (npm ci)?`);
  cpSync(src, join(lib, 'native', 'serialport', 'prebuilds', `linux-${arch}`), { recursive: true });
  const hci = join(hciSocketPrebuilds(), `linux-${arch}`);
  if (!existsSync(hci)) throw new Error(`no @stoprocent/bluetooth-hci-socket prebuilds for linux-${arch} in ${hci}: is @stoprocent/noble installed (npm ci)?`);
  cpSync(hci, join(lib, 'native', 'bluetooth-hci-socket', 'prebuilds', `linux-${arch}`), { recursive: true });
  const raspi = join(ROOT, 'deploy', 'raspi');
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(raspi, 'fieldgate.sh'), join(dir, 'bin', 'fieldgate'));
  chmodSync(join(dir, 'bin', 'fieldgate'), 0o755);
  copyFileSync(join(raspi, 'install.sh'), join(dir, 'install.sh'));
  chmodSync(join(dir, 'install.sh'), 0o755);
  mkdirSync(join(dir, 'systemd'));
  copyFileSync(join(raspi, 'fieldgate.service'), join(dir, 'systemd', 'fieldgate.service'));
  copyFileSync(join(raspi, 'ble.conf'), join(dir, 'systemd', 'ble.conf'));
  mkdirSync(join(dir, 'udev'));
  copyFileSync(join(raspi, '99-fieldgate.rules'), join(dir, 'udev', '99-fieldgate.rules'));
  mkdirSync(join(dir, 'share', 'doc'), { recursive: true });
  copyFileSync(join(ROOT, 'fieldgate.example.yaml'), join(dir, 'share', 'fieldgate.example.yaml'));
  copyFileSync(join(ROOT, 'docs', 'raspberry-pi.md'), join(dir, 'share', 'doc', 'raspberry-pi.md'));
  copyFileSync(join(dirname(bundleFile), 'THIRD-PARTY-LICENSES.txt'), join(dir, 'share', 'doc', 'THIRD-PARTY-LICENSES.txt'));
  writeFileSync(join(dir, 'VERSION'), `${version()}\n`);
  return dir;
}

/** A reproducible tarball: fixed owner, order and mtime, so two builds of one commit compare equal. */
function tarball(tree: string): string {
  const file = `${tree}.tar.gz`;
  const parent = dirname(tree);
  // gzip -n: no name or timestamp in the gzip header either.
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-I', 'gzip -n -9', '-cf', file, '-C', parent, relative(parent, tree)]);
  return file;
}

export async function buildRelease(opts: BuildOptions = {}): Promise<BuildResult> {
  const out = resolve(opts.out ?? join(ROOT, 'dist'));
  mkdirSync(out, { recursive: true });
  const bundleFile = await bundle(out);
  const tarballs: BuildResult['tarballs'] = [];
  for (const arch of opts.arches ?? ARCHES) {
    const tree = releaseTree(out, bundleFile, arch);
    if (opts.tarballs === false) {
      tarballs.push({ arch, path: tree, bytes: 0 });
      continue;
    }
    const file = tarball(tree);
    tarballs.push({ arch, path: file, bytes: statSync(file).size });
  }
  const js = bundleFiles(dirname(bundleFile)).filter((f) => f.endsWith('.mjs'));
  return { bundle: bundleFile, bundleBytes: js.reduce((n, f) => n + statSync(join(dirname(bundleFile), f)).size, 0), chunks: js.length - 1, tarballs };
}

function kb(n: number): string {
  return `${(n / 1024).toFixed(0)} KiB`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, arch: { type: 'string', multiple: true }, 'no-tarball': { type: 'boolean' } } });
  const arches = values.arch?.map((a) => {
    if (!(ARCHES as readonly string[]).includes(a)) throw new Error(`unknown --arch ${a}; one of: ${ARCHES.join(', ')}`);
    return a as Arch;
  });
  const started = Date.now();
  const r = await buildRelease({ out: values.out, arches, tarballs: !values['no-tarball'] });
  process.stdout.write(`bundle   ${relative(process.cwd(), r.bundle)} + ${r.chunks} chunks  ${kb(r.bundleBytes)} (+ .map)\n`);
  for (const t of r.tarballs) process.stdout.write(`${t.arch.padEnd(8)} ${relative(process.cwd(), t.path)}${t.bytes ? `  ${kb(t.bytes)}` : ''}\n`);
  process.stdout.write(`built in ${Date.now() - started} ms\n`);
}
