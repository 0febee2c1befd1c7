import type { Characteristic } from '@stoprocent/noble';
import type { GattCommand } from './gatt-command.ts';
import type { Peripheral } from './radio.ts';

// GATT commands for one device at a time each, within a global bound on open connections.
// Commands for a device run in order; a command that does not finish within its timeout is
// answered with an error (and a connect attempt is cancelled).

export interface GattOptions {
  maxConnections: number;
  connectTimeout: number;
  commandTimeout: number;
  idleTimeout: number;
  maxQueued: number;
}

export interface GattHost {
  /** The peripheral noble last reported for a device id, if the scanner has heard it. */
  peripheral(deviceId: string): Peripheral | undefined;
  respond(deviceId: string, body: Record<string, unknown>): void;
  notification(deviceId: string, body: Record<string, unknown>): void;
  /** Some controllers cannot scan while creating a connection (Command Disallowed): scanning pauses. */
  pauseScanning(): void;
  resumeScanning(): void;
}

interface Connection {
  peripheral: Peripheral;
  chars: Map<string, Characteristic>;
  /** Services discovered on this connection. */
  services: Set<string>;
  subscribed: Map<string, (data: Buffer, isNotification: boolean) => void>;
  idle?: NodeJS.Timeout;
  onDisconnect: (reason: unknown) => void;
}

interface Device {
  queue: GattCommand[];
  running: boolean;
  conn?: Connection;
}

class Timeout extends Error {}

type CharacteristicCommand = Exclude<GattCommand, { cmd: 'connect' | 'disconnect' }>;

function isCharacteristicCommand(c: GattCommand): c is CharacteristicCommand {
  return c.cmd !== 'connect' && c.cmd !== 'disconnect';
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Timeout(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

export class GattEngine {
  private readonly devices = new Map<string, Device>();
  private connecting = 0;
  private closed = false;

  constructor(private readonly opts: GattOptions, private readonly host: GattHost) {}

  get connections(): number {
    let n = 0;
    for (const d of this.devices.values()) if (d.conn) n++;
    return n;
  }

  submit(deviceId: string, cmd: GattCommand): void {
    let d = this.devices.get(deviceId);
    if (!d) {
      d = { queue: [], running: false };
      this.devices.set(deviceId, d);
    }
    if (d.queue.length >= this.opts.maxQueued + (d.running ? 0 : 1)) {
      this.host.respond(deviceId, { id: cmd.id, cmd: cmd.cmd, ok: false, error: `busy: ${d.queue.length} commands already wait for this device (adapters.ble.gatt.max_queued)` });
      return;
    }
    d.queue.push(cmd);
    if (!d.running) void this.drain(deviceId, d);
  }

  private async drain(deviceId: string, d: Device): Promise<void> {
    d.running = true;
    for (let cmd = d.queue.shift(); cmd; cmd = d.queue.shift()) {
      try {
        const data = await this.run(deviceId, d, cmd);
        this.host.respond(deviceId, { id: cmd.id, cmd: cmd.cmd, ok: true, ...(data ? { data: data.toString('hex') } : {}) });
      } catch (err) {
        this.host.respond(deviceId, { id: cmd.id, cmd: cmd.cmd, ok: false, error: (err as Error).message });
      }
      this.touch(deviceId, d);
    }
    d.running = false;
    if (!d.conn && d.queue.length === 0) this.devices.delete(deviceId);
  }

  private async run(deviceId: string, d: Device, cmd: GattCommand): Promise<Buffer | undefined> {
    if (this.closed) throw new Error('the BLE adapter is stopping');
    if (cmd.cmd === 'disconnect') {
      if (d.conn) await this.disconnect(deviceId, d, 'requested');
      return undefined;
    }
    const conn = d.conn ?? (await this.connect(deviceId, d));
    if (!isCharacteristicCommand(cmd)) return undefined;
    return this.characteristicCommand(deviceId, d, conn, cmd);
  }

  private async characteristicCommand(deviceId: string, d: Device, conn: Connection, cmd: CharacteristicCommand): Promise<Buffer | undefined> {
    const ch = await this.characteristic(conn, cmd.service, cmd.characteristic);
    const key = `${cmd.service}/${cmd.characteristic}`;
    const t = this.opts.commandTimeout;
    switch (cmd.cmd) {
      case 'read':
        return within(ch.readAsync(), t, `read ${key}`);
      case 'write':
        await within(ch.writeAsync(cmd.data, cmd.withoutResponse), t, `write ${key}`);
        return undefined;
      case 'subscribe': {
        if (conn.subscribed.has(key)) return undefined;
        const onData = (data: Buffer, isNotification: boolean) => {
          if (!isNotification) return;
          this.touch(deviceId, d);
          this.host.notification(deviceId, { service: cmd.service, characteristic: cmd.characteristic, data: data.toString('hex'), ts: Date.now() });
        };
        ch.on('data', onData);
        conn.subscribed.set(key, onData);
        try {
          await within(ch.subscribeAsync(), t, `subscribe ${key}`);
        } catch (err) {
          ch.off('data', onData);
          conn.subscribed.delete(key);
          throw err;
        }
        return undefined;
      }
      case 'unsubscribe': {
        const onData = conn.subscribed.get(key);
        if (!onData) return undefined;
        conn.subscribed.delete(key);
        ch.off('data', onData);
        await within(ch.unsubscribeAsync(), t, `unsubscribe ${key}`);
        return undefined;
      }
    }
  }

  private async connect(deviceId: string, d: Device): Promise<Connection> {
    const p = this.host.peripheral(deviceId);
    if (!p) throw new Error(`device ${deviceId} has not been heard by the scanner; it must advertise before it can be connected`);
    if (this.connections + this.connecting >= this.opts.maxConnections) {
      throw new Error(`busy: ${this.opts.maxConnections} connections are open (adapters.ble.gatt.max_connections); disconnect one first`);
    }
    this.connecting++;
    this.host.pauseScanning();
    try {
      await within(p.connectAsync(), this.opts.connectTimeout, `connect to ${deviceId}`);
    } catch (err) {
      if (err instanceof Timeout) p.cancelConnect();
      throw err;
    } finally {
      this.connecting--;
      this.host.resumeScanning();
    }
    const conn: Connection = {
      peripheral: p,
      chars: new Map(),
      services: new Set(),
      subscribed: new Map(),
      onDisconnect: (reason) => {
        if (d.conn !== conn) return;
        this.release(d, conn);
        this.host.respond(deviceId, { event: 'disconnected', reason: String(reason ?? 'remote') });
      },
    };
    p.once('disconnect', conn.onDisconnect);
    d.conn = conn;
    return conn;
  }

  private async characteristic(conn: Connection, service: string, characteristic: string): Promise<Characteristic> {
    const key = `${service}/${characteristic}`;
    if (!conn.services.has(service)) {
      // Each service is discovered once per connection, with all its characteristics: noble
      // forgets a service's characteristic objects when the service is discovered again, and a
      // subscription on a forgotten object would never see its notifications.
      const found = await within(conn.peripheral.discoverSomeServicesAndCharacteristicsAsync([service], []), this.opts.commandTimeout, `discovery of service ${service}`);
      for (const c of found.characteristics) conn.chars.set(`${service}/${c.uuid}`, c);
      conn.services.add(service);
    }
    const ch = conn.chars.get(key);
    if (!ch) throw new Error(`the device has no characteristic ${characteristic} in service ${service}`);
    return ch;
  }

  private release(d: Device, conn: Connection): void {
    if (conn.idle) clearTimeout(conn.idle);
    conn.peripheral.off('disconnect', conn.onDisconnect);
    for (const [key, onData] of conn.subscribed) conn.chars.get(key)?.off('data', onData);
    conn.subscribed.clear();
    if (d.conn === conn) d.conn = undefined;
  }

  private async disconnect(deviceId: string, d: Device, why: string): Promise<void> {
    const conn = d.conn;
    if (!conn) return;
    this.release(d, conn);
    await within(conn.peripheral.disconnectAsync(), this.opts.commandTimeout, `disconnect from ${deviceId} (${why})`).catch(() => {});
  }

  private touch(deviceId: string, d: Device): void {
    const conn = d.conn;
    if (!conn || this.opts.idleTimeout <= 0) return;
    if (conn.idle) clearTimeout(conn.idle);
    conn.idle = setTimeout(() => {
      if (d.running) return;
      void this.disconnect(deviceId, d, 'idle').then(() => {
        this.host.respond(deviceId, { event: 'disconnected', reason: 'idle_timeout' });
        if (!d.running && d.queue.length === 0) this.devices.delete(deviceId);
      });
    }, this.opts.idleTimeout);
    conn.idle.unref();
  }

  /**
   * An operator's kick: closes the device's GATT connection and answers its queued commands with
   * an error. False when there is neither a connection nor a queued command.
   */
  async drop(deviceId: string, why: string): Promise<boolean> {
    const d = this.devices.get(deviceId);
    if (!d) return false;
    for (const cmd of d.queue.splice(0)) this.host.respond(deviceId, { id: cmd.id, cmd: cmd.cmd, ok: false, error: `the device was disconnected by an operator (${why})` });
    if (d.conn) {
      await this.disconnect(deviceId, d, why);
      this.host.respond(deviceId, { event: 'disconnected', reason: why });
    }
    if (!d.running) this.devices.delete(deviceId);
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.devices].map(([id, d]) => this.disconnect(id, d, 'stopping')));
    this.devices.clear();
  }
}
