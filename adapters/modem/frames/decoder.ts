// The decoder contract on its own, so script-decoder.ts and decoders.ts (which builds every kind) do not import each other.

export type Decoded = { decoded: unknown } | { error: string };

export interface Decoder {
  decode(payload: Buffer, port: number): Decoded | Promise<Decoded>;
  load?(): Promise<void>;
  close?(): Promise<void>;
}
