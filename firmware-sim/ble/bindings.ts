import { EventEmitter } from 'node:events';

// A simulated Bluetooth controller at noble's bindings seam: the object noble's HCI-socket bindings
// would be, emitting the same events with the same arguments (stateChange, scanStart/scanStop,
// discover, connect/disconnect, servicesDiscover, characteristicsDiscover, read, write, notify).
// Written from the contract @stoprocent/noble 2.x's Noble class relies on (the methods it calls on
// its bindings and the events it subscribes to), and given to noble through that class's
// constructor (adapters/ble/radio.ts nobleWithBindings). It knows nothing of fieldgate's decoders:
// advertisements are byte fixtures from the format specs.
//
// The controller outlives noble instances, as a radio does: each instance start()s it and stop()s
// it (the real bindings close their HCI socket then, so nothing more reaches that instance).

export interface SimCharacteristic {
  uuid: string;
  properties: string[];
  value?: Buffer;
  /** Called on a write; the simulated device may answer with notifications. */
  onWrite?: (data: Buffer, device: SimDevice) => void;
}

export interface SimService {
  uuid: string;
  characteristics: SimCharacteristic[];
}

export interface SimAdvertisement {
  localName?: string;
  manufacturerData?: Buffer;
  serviceData?: { uuid: string; data: Buffer }[];
  serviceUuids?: string[];
  txPowerLevel?: number;
}

export interface SimDevice {
  address: string;
  addressType?: 'public' | 'random';
  connectable?: boolean;
  rssi: number;
  advertisement: SimAdvertisement;
  services?: SimService[];
  /** Connect attempts do not complete (to test timeouts) until `reachable()` lets the pending one through. */
  unreachable?: boolean;
}

export interface SimCall {
  method: string;
  args: unknown[];
}

const idOf = (address: string) => address.replace(/:/g, '').toLowerCase();

export class SimBindings extends EventEmitter {
  /** Every call noble made, in order (tests assert on them). */
  readonly calls: SimCall[] = [];
  readonly devices = new Map<string, SimDevice>();
  /**
   * The state the first start() reports; tests set it before noble starts. noble's HCI bindings
   * report "unsupported" for a socket they cannot bind too (EBUSY, ENODEV), "unauthorized" for EPERM.
   */
  initialState: string = 'poweredOn';
  /** The controller's state; later start()s report it as it is (a radio powered off stays off). */
  state = 'unknown';
  scanning = false;
  private readonly connected = new Set<string>();
  private readonly notifying = new Set<string>();
  /** Connects to unreachable devices, waiting for reachable() or cancelConnect(). */
  private readonly pendingConnects = new Set<string>();

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  /** Bumped by stop(): answers still pending for a stopped instance are dropped (its socket is closed). */
  private generation = 0;

  private later(fn: () => void): void {
    const g = this.generation;
    setImmediate(() => {
      if (g === this.generation) fn();
    });
  }

  add(device: SimDevice): void {
    this.devices.set(idOf(device.address), device);
  }

  /** Sends one advertisement of `device` (as noble's gap layer reports it) if scanning. */
  advertise(device: SimDevice, rssi = device.rssi): boolean {
    if (!this.scanning || this.state !== 'poweredOn') return false;
    const a = device.advertisement;
    const advertisement = {
      localName: a.localName,
      txPowerLevel: a.txPowerLevel,
      manufacturerData: a.manufacturerData,
      serviceData: a.serviceData ?? [],
      serviceUuids: a.serviceUuids ?? [],
      serviceSolicitationUuids: [],
    };
    this.emit('discover', idOf(device.address), device.address.toLowerCase(), device.addressType ?? 'public', device.connectable ?? false, advertisement, rssi, false);
    return true;
  }

  /** The radio changes state (rfkill, reset, unplug): poweredOff, then poweredOn again, etc. */
  setState(state: string): void {
    this.state = state;
    if (state !== 'poweredOn') this.scanning = false;
    this.emit('stateChange', state);
  }

  /** Another program stopped the controller's scan (bluetoothd on the shared channel). */
  externalScanStop(): void {
    this.scanning = false;
    this.emit('scanStop');
  }

  /** The device sends a notification for a subscribed characteristic. */
  notifyFrom(address: string, service: string, characteristic: string, data: Buffer): boolean {
    const id = idOf(address);
    if (!this.notifying.has(`${id}/${service}/${characteristic}`)) return false;
    this.emit('read', id, service, characteristic, data, true);
    return true;
  }

  /** The device drops the connection. */
  dropConnection(address: string, reason = 0x08): void {
    const id = idOf(address);
    if (!this.connected.delete(id)) return;
    this.emit('disconnect', id, reason);
  }

  /** An unreachable device comes in range: its pending connect (if any) completes now. */
  reachable(address: string): void {
    const id = idOf(address);
    const d = this.devices.get(id);
    if (d) d.unreachable = false;
    if (!this.pendingConnects.delete(id)) return;
    this.later(() => {
      this.connected.add(id);
      this.emit('connect', id, null);
    });
  }

  isConnected(address: string): boolean {
    return this.connected.has(idOf(address));
  }

  // ---- the bindings contract noble calls ----

  start(): void {
    this.record('start');
    this.later(() => this.setState(this.state === 'unknown' ? this.initialState : this.state));
  }

  /** noble.stop(): the socket is closed, its connections end, no more events reach that instance. */
  stop(): void {
    this.record('stop');
    this.generation++;
    this.scanning = false;
    this.connected.clear();
    this.notifying.clear();
    this.pendingConnects.clear();
    this.removeAllListeners();
  }

  /** noble.connect(address) without a scan: the id noble uses for an address. */
  addressToId(address: string): string {
    return idOf(address);
  }

  reset(): void {
    this.record('reset');
  }

  setScanParameters(interval: number, window: number): void {
    this.record('setScanParameters', interval, window);
    this.later(() => this.emit('scanParametersSet'));
  }

  startScanning(serviceUuids: string[], allowDuplicates: boolean): void {
    this.record('startScanning', serviceUuids, allowDuplicates);
    this.scanning = true;
    this.later(() => this.emit('scanStart', !allowDuplicates));
  }

  stopScanning(): void {
    this.record('stopScanning');
    this.scanning = false;
    this.later(() => this.emit('scanStop'));
  }

  connect(id: string, params?: unknown): void {
    this.record('connect', id, params);
    const d = this.devices.get(id);
    if (d?.unreachable) return void this.pendingConnects.add(id);
    this.later(() => {
      if (!d) return this.emit('connect', id, new Error('Connection Failed to be Established (0x3e)'));
      this.connected.add(id);
      this.emit('connect', id, null);
    });
  }

  cancelConnect(id: string): void {
    this.record('cancelConnect', id);
    this.pendingConnects.delete(id);
  }

  disconnect(id: string): void {
    this.record('disconnect', id);
    this.later(() => {
      this.connected.delete(id);
      for (const k of [...this.notifying]) if (k.startsWith(`${id}/`)) this.notifying.delete(k);
      this.emit('disconnect', id, 0x16);
    });
  }

  updateRssi(id: string): void {
    this.record('updateRssi', id);
    this.later(() => this.emit('rssiUpdate', id, this.devices.get(id)?.rssi ?? -127));
  }

  discoverServices(id: string, uuids: string[]): void {
    this.record('discoverServices', id, uuids);
    const all = (this.devices.get(id)?.services ?? []).map((s) => s.uuid);
    this.later(() => this.emit('servicesDiscover', id, uuids.length ? all.filter((u) => uuids.includes(u)) : all));
  }

  discoverIncludedServices(id: string, svc: string): void {
    this.record('discoverIncludedServices', id, svc);
    this.later(() => this.emit('includedServicesDiscover', id, svc, []));
  }

  discoverCharacteristics(id: string, svc: string, uuids: string[]): void {
    this.record('discoverCharacteristics', id, svc, uuids);
    const chars = this.service(id, svc)?.characteristics ?? [];
    const list = chars.filter((c) => uuids.length === 0 || uuids.includes(c.uuid)).map((c) => ({ uuid: c.uuid, properties: c.properties }));
    this.later(() => this.emit('characteristicsDiscover', id, svc, list));
  }

  discoverDescriptors(id: string, svc: string, chr: string): void {
    this.record('discoverDescriptors', id, svc, chr);
    this.later(() => this.emit('descriptorsDiscover', id, svc, chr, []));
  }

  read(id: string, svc: string, chr: string): void {
    this.record('read', id, svc, chr);
    const c = this.characteristic(id, svc, chr);
    this.later(() => this.emit('read', id, svc, chr, c?.value ?? Buffer.alloc(0), false));
  }

  write(id: string, svc: string, chr: string, data: Buffer, withoutResponse: boolean): void {
    this.record('write', id, svc, chr, Buffer.from(data), withoutResponse);
    const c = this.characteristic(id, svc, chr);
    const d = this.devices.get(id);
    if (c) c.value = Buffer.from(data);
    this.later(() => {
      this.emit('write', id, svc, chr);
      if (c && d) c.onWrite?.(Buffer.from(data), d);
    });
  }

  broadcast(id: string, svc: string, chr: string, on: boolean): void {
    this.record('broadcast', id, svc, chr, on);
    this.later(() => this.emit('broadcast', id, svc, chr, on));
  }

  notify(id: string, svc: string, chr: string, on: boolean): void {
    this.record('notify', id, svc, chr, on);
    const key = `${id}/${svc}/${chr}`;
    if (on) this.notifying.add(key);
    else this.notifying.delete(key);
    this.later(() => this.emit('notify', id, svc, chr, on));
  }

  readValue(id: string, svc: string, chr: string, desc: string): void {
    this.record('readValue', id, svc, chr, desc);
    this.later(() => this.emit('valueRead', id, svc, chr, desc, Buffer.alloc(0)));
  }

  writeValue(id: string, svc: string, chr: string, desc: string, data: Buffer): void {
    this.record('writeValue', id, svc, chr, desc, data);
    this.later(() => this.emit('valueWrite', id, svc, chr, desc));
  }

  readHandle(id: string, handle: number): void {
    this.record('readHandle', id, handle);
    this.later(() => this.emit('handleRead', id, handle, Buffer.alloc(0)));
  }

  writeHandle(id: string, handle: number, data: Buffer, withoutResponse: boolean): void {
    this.record('writeHandle', id, handle, data, withoutResponse);
    this.later(() => this.emit('handleWrite', id, handle));
  }

  private service(id: string, svc: string): SimService | undefined {
    return this.devices.get(id)?.services?.find((s) => s.uuid === svc);
  }

  private characteristic(id: string, svc: string, chr: string): SimCharacteristic | undefined {
    return this.service(id, svc)?.characteristics.find((c) => c.uuid === chr);
  }
}
