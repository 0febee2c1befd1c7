import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { bleConfigSchema, normalizeAddress, type BleConfig } from '../../adapters/ble/config.ts';
import { decodeAdvert, normalizeUuid, type DecodeOptions } from '../../adapters/ble/decoders/index.ts';
import { loadUserDecoder, type UserDecoder } from '../../adapters/ble/decoders/user.ts';
import { decoderOptions } from '../../adapters/ble/decoder-set.ts';
import { advertFromTheengs, theengsOutput } from '../../adapters/ble/theengs.ts';

// `fieldgate ble decode` and `fieldgate ble scan`.

export const BLE_HELP = `Usage: fieldgate ble decode [--config FILE] [--bindkey ADDRESS=KEY]... [--decoder mfid:ID=FILE | uuid:UUID=FILE]...
       fieldgate ble scan [--config FILE] [--seconds N]

decode  reads advertisements on standard input, one JSON object a line, in the form Theengs
        Decoder and OpenMQTTGateway use:
          {"id":"A4:C1:38:00:11:22","name":"ATC_001122","servicedata":"a4c138...","servicedatauuid":"0x181a","rssi":-60}
        and prints one JSON line for each: the decoded values under Theengs key names (tempc,
        hum, batt, volt, ...) plus "format", or {"error": "..."}. No radio needed.
        Bindkeys and user decoders come from the config's adapters.ble section (--config) and
        from --bindkey / --decoder, e.g.
          echo '{"id":"54:48:E6:8F:80:A5","servicedata":"4002c40903bf13","servicedatauuid":"fcd2"}' | fieldgate ble decode
          fieldgate ble decode --decoder mfid:0x0059=./my-decoder.js < adverts.jsonl

scan    shows a live table of the devices the radio hears: address, name, RSSI, and which
        decoder matches (and whether the allowlist would publish it). Publishes nothing.
        Needs the radio and the raw-HCI capabilities (docs/ble.md); stop with Ctrl-C or --seconds.`;

/** Loads a config file (same lookup as `fieldgate start`) and returns its validated `adapters` section. */
type LoadAdapters = (file: string | undefined) => Record<string, unknown>;

function bleSection(load: LoadAdapters, file: string | undefined): BleConfig {
  const section = load(file).ble;
  // Validated already when the adapter is registered (devices is then a Map); parsed here otherwise.
  if (section && typeof section === 'object' && (section as { devices?: unknown }).devices instanceof Map) return section as BleConfig;
  return bleConfigSchema.parse(section ?? {});
}

function parseDecoderFlag(flag: string, timeLimit: number): UserDecoder {
  const m = /^(mfid|uuid):([^=]+)=(.+)$/.exec(flag);
  if (!m) throw new Error(`--decoder "${flag}": write mfid:0x0059=FILE or uuid:fe95=FILE`);
  const [, kind, id, file] = m as unknown as [string, string, string, string];
  const name = file.replace(/^.*\//, '').replace(/\.[cm]?js$/, '').replace(/[^a-z0-9_-]/gi, '_').slice(0, 32) || 'user';
  if (kind === 'mfid') {
    const n = Number(id);
    if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new Error(`--decoder "${flag}": manufacturer id must be 0-0xffff`);
    return loadUserDecoder({ name, file, manufacturer_id: n }, timeLimit);
  }
  return loadUserDecoder({ name, file, service_uuid: normalizeUuid(id) }, timeLimit);
}

function buildOptions(values: { config?: string; bindkey?: string[]; decoder?: string[] }, loadConfig: LoadAdapters, useConfig: boolean): DecodeOptions {
  const cfg = useConfig ? bleSection(loadConfig, values.config) : undefined;
  const opts = cfg ? decoderOptions(cfg) : { bindkeys: new Map<string, Buffer>(), user: [] };
  const bindkeys = new Map(opts.bindkeys);
  for (const b of values.bindkey ?? []) {
    const m = /^([0-9a-fA-F:-]{12,17})=([0-9a-fA-F]{32})$/.exec(b);
    if (!m) throw new Error(`--bindkey "${b}": write ADDRESS=32HEXDIGITS, e.g. A4:C1:38:00:11:22=231d39c1d7cc1ab1aee224cd096db932`);
    bindkeys.set(normalizeAddress(m[1]!), Buffer.from(m[2]!, 'hex'));
  }
  const user = [...(opts.user ?? []), ...(values.decoder ?? []).map((d) => parseDecoderFlag(d, cfg?.user_decoder_time_limit ?? 100))];
  return { bindkeys, user };
}

/** Decodes stdin lines to stdout lines; resolves when stdin ends. */
export async function decodeStream(input: NodeJS.ReadableStream, out: NodeJS.WritableStream, opts: DecodeOptions): Promise<number> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    if (!line.trim()) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      out.write(`${JSON.stringify({ error: `line ${n} is not JSON: ${(err as Error).message}` })}\n`);
      continue;
    }
    const ad = advertFromTheengs(obj);
    if (typeof ad === 'string') {
      out.write(`${JSON.stringify({ error: `line ${n}: ${ad}` })}\n`);
      continue;
    }
    out.write(`${JSON.stringify(theengsOutput(ad, decodeAdvert(ad, opts)))}\n`);
  }
  return n;
}

export async function bleCommand(argv: string[], loadConfig: LoadAdapters): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(`${BLE_HELP}\n`);
    return sub ? 0 : 2;
  }
  let values;
  try {
    values = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        bindkey: { type: 'string', multiple: true },
        decoder: { type: 'string', multiple: true },
        seconds: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`fieldgate ble: ${(err as Error).message}\n\n${BLE_HELP}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${BLE_HELP}\n`);
    return 0;
  }
  if (sub === 'decode') {
    let opts: DecodeOptions;
    try {
      opts = buildOptions(values, loadConfig, values.config !== undefined);
    } catch (err) {
      process.stderr.write(`fieldgate ble decode: ${(err as Error).message}\n`);
      return 2;
    }
    await decodeStream(process.stdin, process.stdout, opts);
    return 0;
  }
  if (sub === 'scan') {
    const { scanCommand } = await import('../../adapters/ble/scan.ts');
    const code = await scanCommand(bleSection(loadConfig, values.config), values.seconds === undefined ? undefined : Number(values.seconds));
    // noble's HCI bindings poll the adapter on a timer that never ends: exit once the table is out.
    await new Promise<void>((r) => process.stdout.write('', () => r()));
    process.exit(code);
  }
  process.stderr.write(`fieldgate ble: unknown subcommand "${sub}"\n\n${BLE_HELP}\n`);
  return 2;
}
