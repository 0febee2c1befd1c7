import type { SimBindings, SimDevice } from './bindings.ts';
import { FIXTURES, gattDevice } from './fixtures.ts';

// A demo fleet for the simulated controller: BTHome and pvvx thermometers whose readings drift,
// plus the fixed fixtures (a RuuviTag, an iBeacon, an Eddystone TLM beacon, a phone) and a
// connectable GATT device that echoes writes as notifications. The frames are built here from
// the format specs (bthome.io object table, pvvx's custom_beacon.h), independently of fieldgate's
// decoders.

/** BTHome v2, unencrypted: info 0x40, packet id (0x00), temperature (0x02, sint16 x0.01), humidity (0x03, uint16 x0.01), battery (0x01). */
export function bthomeFrame(packet: number, tempc: number, hum: number, batt: number): Buffer {
  const b = Buffer.alloc(11);
  b.writeUInt8(0x40, 0);
  b.writeUInt8(0x00, 1);
  b.writeUInt8(packet & 0xff, 2);
  b.writeUInt8(0x01, 3);
  b.writeUInt8(batt, 4);
  b.writeUInt8(0x02, 5);
  b.writeInt16LE(Math.round(tempc * 100), 6);
  b.writeUInt8(0x03, 8);
  b.writeUInt16LE(Math.round(hum * 100), 9);
  return b;
}

/** pvvx custom format service data: MAC reversed, temp x0.01, hum x0.01, mV, battery %, counter, flags. */
export function pvvxFrame(address: string, count: number, tempc: number, hum: number, mv: number, batt: number): Buffer {
  const b = Buffer.alloc(15);
  Buffer.from(address.replace(/:/g, ''), 'hex').reverse().copy(b, 0);
  b.writeInt16LE(Math.round(tempc * 100), 6);
  b.writeUInt16LE(Math.round(hum * 100), 8);
  b.writeUInt16LE(mv, 10);
  b.writeUInt8(batt, 12);
  b.writeUInt8(count & 0xff, 13);
  b.writeUInt8(0, 14);
  return b;
}

export interface FleetOptions {
  /** Thermometers of each kind (BTHome, pvvx). */
  sensors: number;
  /** Advertisements per second per device. */
  rate: number;
  /** A new reading every this many advertisements (sensors repeat each reading). */
  repeats: number;
}

export class Fleet {
  private timer?: NodeJS.Timeout;
  private tick = 0;
  readonly devices: SimDevice[] = [];
  advertised = 0;

  constructor(private readonly sim: SimBindings, private readonly opts: FleetOptions) {
    for (let i = 0; i < opts.sensors; i++) {
      const n = (i + 1).toString(16).padStart(4, '0');
      this.devices.push({ address: `54:48:E6:00:${n.slice(0, 2)}:${n.slice(2)}`, rssi: -50 - (i % 40), advertisement: { localName: `bthome-${i + 1}`, serviceData: [] } });
      this.devices.push({ address: `A4:C1:38:00:${n.slice(0, 2)}:${n.slice(2)}`, rssi: -55 - (i % 40), advertisement: { localName: `ATC_00${n}`, serviceData: [] } });
    }
    this.devices.push(FIXTURES.ruuvi, FIXTURES.ibeacon, FIXTURES.eddystoneTlm, FIXTURES.phone);
    const gatt = gattDevice();
    const echo = gatt.services?.[1]?.characteristics[0];
    if (echo) echo.onWrite = (data, dev) => setImmediate(() => sim.notifyFrom(dev.address, gatt.services![1]!.uuid, gatt.services![1]!.characteristics[1]!.uuid, data));
    this.devices.push(gatt);
    for (const d of this.devices) sim.add(d);
  }

  private refresh(d: SimDevice, reading: number, i: number): void {
    const drift = Math.sin((reading + i) / 5);
    const tempc = 21 + i * 0.1 + drift;
    const hum = 45 + 5 * drift;
    if (d.address.startsWith('54:48:E6')) d.advertisement.serviceData = [{ uuid: 'fcd2', data: bthomeFrame(reading, tempc, hum, 90) }];
    else if (d.address.startsWith('A4:C1:38')) d.advertisement.serviceData = [{ uuid: '181a', data: pvvxFrame(d.address, reading, tempc, hum, 2950, 87) }];
  }

  start(): void {
    const every = Math.max(1, Math.round(1000 / this.opts.rate));
    this.timer = setInterval(() => {
      const reading = Math.floor(this.tick / this.opts.repeats);
      if (this.tick % this.opts.repeats === 0) this.devices.forEach((d, i) => this.refresh(d, reading, i));
      for (const d of this.devices) if (this.sim.advertise(d, d.rssi + Math.round(Math.random() * 6 - 3))) this.advertised++;
      this.tick++;
    }, every);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
