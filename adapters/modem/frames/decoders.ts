import { decodeLpp } from './lpp.ts';
import type { Decoder } from './decoder.ts';
import { ScriptDecoder } from './script-decoder.ts';

export type DecoderSpec = 'hex' | 'json' | 'lpp' | { script: string; timeout: number };

export type { Decoded, Decoder } from './decoder.ts';

const hexDecoder: Decoder = { decode: (p) => ({ decoded: p.toString('hex') }) };

const jsonDecoder: Decoder = {
  decode(p) {
    try {
      return { decoded: JSON.parse(p.toString('utf8')) as unknown };
    } catch (err) {
      return { error: `json decoder: ${(err as Error).message}` };
    }
  },
};

const lppDecoder: Decoder = {
  decode(p) {
    try {
      return { decoded: decodeLpp(p) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  },
};

/** Script decoders are shared per file (one worker each), built-in ones are stateless. */
export class DecoderSet {
  private readonly scripts = new Map<string, ScriptDecoder>();

  get(spec: DecoderSpec): Decoder {
    if (spec === 'hex') return hexDecoder;
    if (spec === 'json') return jsonDecoder;
    if (spec === 'lpp') return lppDecoder;
    let d = this.scripts.get(spec.script);
    if (!d) {
      d = new ScriptDecoder(spec.script, spec.timeout);
      this.scripts.set(spec.script, d);
    }
    return d;
  }

  async load(): Promise<void> {
    for (const d of this.scripts.values()) await d.load();
  }

  async close(): Promise<void> {
    await Promise.all([...this.scripts.values()].map((d) => d.close()));
  }
}
