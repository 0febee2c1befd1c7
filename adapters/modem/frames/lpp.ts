/**
 * Cayenne Low Power Payload (myDevices' LPP v1 data types, plus the extended types TTN's decoder
 * knows). Output keys follow TTN's formatter: `<type>_<channel>`, e.g. `temperature_3: 27.2`.
 */
interface LppType {
  name: string;
  size: number;
  read(b: Buffer, o: number): number | Record<string, number>;
}

const s16 = (div: number) => (b: Buffer, o: number) => b.readInt16BE(o) / div;
const u16 = (div: number) => (b: Buffer, o: number) => b.readUInt16BE(o) / div;
const u32 = (div: number) => (b: Buffer, o: number) => b.readUInt32BE(o) / div;
const u8 = (div: number) => (b: Buffer, o: number) => (b[o] as number) / div;
const s24 = (b: Buffer, o: number) => b.readIntBE(o, 3);
const xyz = (div: number) => (b: Buffer, o: number) => ({ x: b.readInt16BE(o) / div, y: b.readInt16BE(o + 2) / div, z: b.readInt16BE(o + 4) / div });

const TYPES: Record<number, LppType> = {
  0: { name: 'digital_in', size: 1, read: u8(1) },
  1: { name: 'digital_out', size: 1, read: u8(1) },
  2: { name: 'analog_in', size: 2, read: s16(100) },
  3: { name: 'analog_out', size: 2, read: s16(100) },
  100: { name: 'generic', size: 4, read: u32(1) },
  101: { name: 'illuminance', size: 2, read: u16(1) },
  102: { name: 'presence', size: 1, read: u8(1) },
  103: { name: 'temperature', size: 2, read: s16(10) },
  104: { name: 'humidity', size: 1, read: u8(2) },
  113: { name: 'accelerometer', size: 6, read: xyz(1000) },
  115: { name: 'barometer', size: 2, read: u16(10) },
  116: { name: 'voltage', size: 2, read: u16(100) },
  117: { name: 'current', size: 2, read: u16(1000) },
  118: { name: 'frequency', size: 4, read: u32(1) },
  120: { name: 'percentage', size: 1, read: u8(1) },
  121: { name: 'altitude', size: 2, read: s16(1) },
  125: { name: 'concentration', size: 2, read: u16(1) },
  128: { name: 'power', size: 2, read: u16(1) },
  130: { name: 'distance', size: 4, read: u32(1000) },
  131: { name: 'energy', size: 4, read: u32(1000) },
  132: { name: 'direction', size: 2, read: u16(1) },
  133: { name: 'unixtime', size: 4, read: u32(1) },
  134: { name: 'gyrometer', size: 6, read: xyz(100) },
  135: { name: 'colour', size: 3, read: (b, o) => ({ r: b[o] as number, g: b[o + 1] as number, b: b[o + 2] as number }) },
  136: { name: 'gps', size: 9, read: (b, o) => ({ latitude: s24(b, o) / 10000, longitude: s24(b, o + 3) / 10000, altitude: s24(b, o + 6) / 100 }) },
  142: { name: 'switch', size: 1, read: u8(1) },
};

export function decodeLpp(buf: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let o = 0;
  while (o < buf.length) {
    if (o + 2 > buf.length) throw new Error(`LPP: truncated header at byte ${o}`);
    const channel = buf[o] as number;
    const typeId = buf[o + 1] as number;
    const t = TYPES[typeId];
    if (!t) throw new Error(`LPP: unknown type ${typeId} on channel ${channel} at byte ${o}`);
    if (o + 2 + t.size > buf.length) throw new Error(`LPP: ${t.name} on channel ${channel} needs ${t.size} bytes, ${buf.length - o - 2} left`);
    out[`${t.name}_${channel}`] = t.read(buf, o + 2);
    o += 2 + t.size;
  }
  return out;
}
