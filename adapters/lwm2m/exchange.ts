// Runs one command against a device over the CoAP link and publishes what happened, in EMQX's
// JSON: the response (with typed content), `ack`, `coap_timeout`, `coap_reset`, then `notify`
// for each notification of an observation.
import { CodecError } from './codec/values.ts';
import { UnsupportedFormat, decodeContent, decodeDiscover } from './codec/content.ts';
import { message, responseData, type Command, type ResponseData } from './commands.ts';
import type { Device, Pending } from './device.ts';
import { failureCode, readUint, uint, type CoapLink, type LinkOption, type LinkResponse } from './link.ts';
import type { ObjectModel } from './objects/model.ts';

export type Channel = 'response' | 'notify' | 'register' | 'update';

export interface ExchangeDeps {
  link: CoapLink;
  model: ObjectModel;
  publish(dev: Device, channel: Channel, body: Record<string, unknown>): void;
  /** How long a separate response may take after the device's empty ACK. */
  separateTimeoutMs: number;
  /** A device payload that could not be decoded (counted and logged by the adapter). */
  undecodable(dev: Device, cmd: Command, err: Error): void;
  /** The device sent something (an answer, an empty ACK, a notification): it is alive and awake. */
  heard(dev: Device): void;
}

/** The Uri-Path segments on the device: its alternate path (e.g. /lwm2m), then the object path. */
export function devicePath(dev: Device, path: readonly number[]): string[] {
  const alt = (dev.reg.alternatePath ?? '/').split('/').filter((s) => s !== '');
  return [...alt, ...path.map(String)];
}

/** Response data for a 2.xx/4.xx/5.xx answer to `cmd`, with content decoded where there is some. */
export function interpret(cmd: Command, path: number[], res: Pick<LinkResponse, 'code' | 'payload' | 'option'>, model: ObjectModel): { data: ResponseData; error?: Error } {
  const reads = cmd.msgType === 'read' || cmd.msgType === 'observe' || cmd.msgType === 'cancel-observe';
  if (cmd.msgType === 'write' && res.code === '2.05') {
    // EMQX: a write answered 2.05 is method_not_allowed when empty, changed otherwise.
    return { data: responseData(cmd, res.payload.length === 0 ? '4.05' : '2.04') };
  }
  if (!res.code.startsWith('2.') || (!reads && cmd.msgType !== 'discover')) return { data: responseData(cmd, res.code) };
  try {
    if (cmd.msgType === 'discover') return { data: responseData(cmd, res.code, decodeDiscover(res.payload)) };
    if (res.payload.length === 0) return { data: responseData(cmd, res.code, []) };
    return { data: responseData(cmd, res.code, decodeContent(readUint(res.option('Content-Format')), res.payload, path, model)) };
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    // The device answered, but with bytes nobody can use: a 4.xx on MQTT (not a crash, not silence).
    const code = err instanceof UnsupportedFormat ? '4.15' : '4.00';
    return { data: responseData(cmd, code, undefined, `the device's ${res.code} payload could not be decoded: ${err.message}`), error: err };
  }
}

function options(p: Pending): LinkOption[] {
  const o: LinkOption[] = [];
  if (p.request.format !== undefined) o.push({ name: 'Content-Format', value: uint(p.request.format) });
  if (p.request.accept !== undefined) o.push({ name: 'Accept', value: uint(p.request.accept) });
  return o;
}

function notifier(dev: Device, cmd: Command, key: string, path: number[], deps: ExchangeDeps) {
  return (n: LinkResponse) => {
    const obs = dev.observations.get(key);
    if (!obs || !obs.token.equals(n.token)) return;
    deps.heard(dev);
    const { data, error } = interpret(cmd, path, n, deps.model);
    if (error) deps.undecodable(dev, cmd, error);
    deps.publish(dev, 'notify', message(cmd, 'notify', data, { seqNum: n.observe ?? 0 }));
    if (!n.code.startsWith('2.')) dev.observations.delete(key);
  };
}

/** Sends `p` to the device and publishes the outcome. Never rejects. */
export async function runCommand(dev: Device, p: Pending, deps: ExchangeDeps): Promise<void> {
  const { cmd, request } = p;
  const key = `/${request.path.join('/')}`;
  const existing = dev.observations.get(key);
  const peer = dev.peer;
  try {
    const res = await deps.link.request(peer, {
      method: request.method,
      path: devicePath(dev, request.path),
      query: request.query,
      options: options(p),
      payload: request.payload,
      observe: request.observe,
      // Deregistration uses the observation's own token (RFC 7641 3.6).
      token: request.observe === 1 ? existing?.token : undefined,
      onNotification: request.observe === 0 ? notifier(dev, cmd, key, request.path, deps) : undefined,
      onAck: () => {
        deps.heard(dev);
        deps.publish(dev, 'response', message(cmd, 'ack', cmd.data));
      },
      timeoutMs: deps.separateTimeoutMs,
    });
    deps.heard(dev);
    const { data, error } = interpret(cmd, request.path, res, deps.model);
    if (error) deps.undecodable(dev, cmd, error);
    if (request.observe === 0 && res.code.startsWith('2.') && res.observe !== undefined) {
      if (existing && !existing.token.equals(res.token)) deps.link.forget(peer, existing.token);
      dev.observations.set(key, { token: res.token, cmd });
    }
    deps.publish(dev, 'response', message(cmd, cmd.msgType, data));
  } catch (err) {
    const code = failureCode(err);
    if (code === 'coap_timeout' && dev.queueMode) dev.asleep = true; // wait for its next Update
    if (code) deps.publish(dev, 'response', message(cmd, code, cmd.data));
    else deps.publish(dev, 'response', message(cmd, cmd.msgType, responseData(cmd, '5.00', undefined, (err as Error).message)));
  } finally {
    // cancel-observe ends the observation here whatever the device answered (or if it never did):
    // the application asked, so no more notify; the device's next notification gets an RST, the
    // reactive cancel of RFC 7641 3.6 (lwm2m-node-lib's client never answers the Observe=1 GET).
    if (request.observe === 1 && existing && dev.observations.get(key) === existing) {
      dev.observations.delete(key);
      deps.link.forget(peer, existing.token);
    }
  }
}

