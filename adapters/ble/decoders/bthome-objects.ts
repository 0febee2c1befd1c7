// BTHome v2 object ids (bthome.io/format, as of 2026-04-30), each with the Theengs/OpenMQTTGateway
// key it is published under where one exists (tempc, hum, batt, volt, pres, lux, moi, fer, co2,
// pm25, pm10, motion, open, packet, button, ...), else a snake_case name of the BTHome property.

/** A fixed-width little-endian number: raw integer x factor. */
export interface NumberObject {
  kind: 'number';
  key: string;
  len: 1 | 2 | 3 | 4;
  signed: boolean;
  factor: number;
}

/** A binary sensor: one byte, 1 = true. */
export interface BoolObject {
  kind: 'bool';
  key: string;
}

/** Objects with their own layout (events, text, firmware versions). */
export interface SpecialObject {
  kind: 'button' | 'dimmer' | 'command' | 'text' | 'raw' | 'fw4' | 'fw3';
  key: string;
}

export type BthomeObject = NumberObject | BoolObject | SpecialObject;

const n = (key: string, len: NumberObject['len'], signed: boolean, factor: number): NumberObject => ({ kind: 'number', key, len, signed, factor });
const u = (key: string, len: NumberObject['len'], factor = 1) => n(key, len, false, factor);
const s = (key: string, len: NumberObject['len'], factor = 1) => n(key, len, true, factor);
const b = (key: string): BoolObject => ({ kind: 'bool', key });

export const BTHOME_OBJECTS: ReadonlyMap<number, BthomeObject> = new Map<number, BthomeObject>([
  [0x00, u('packet', 1)],
  [0x01, u('batt', 1)],
  [0x02, s('tempc', 2, 0.01)],
  [0x03, u('hum', 2, 0.01)],
  [0x04, u('pres', 3, 0.01)],
  [0x05, u('lux', 3, 0.01)],
  [0x06, u('weight', 2, 0.01)],
  [0x07, u('weight_lb', 2, 0.01)],
  [0x08, s('tempc_dp', 2, 0.01)],
  [0x09, u('count', 1)],
  [0x0a, u('energy', 3, 0.001)],
  [0x0b, u('power', 3, 0.01)],
  [0x0c, u('volt', 2, 0.001)],
  [0x0d, u('pm25', 2)],
  [0x0e, u('pm10', 2)],
  [0x0f, b('generic')],
  [0x10, b('power_on')],
  [0x11, b('open')],
  [0x12, u('co2', 2)],
  [0x13, u('tvoc', 2)],
  [0x14, u('moi', 2, 0.01)],
  [0x15, b('lowbatt')],
  [0x16, b('charging')],
  [0x17, b('co')],
  [0x18, b('cold')],
  [0x19, b('connected')],
  [0x1a, b('door')],
  [0x1b, b('garage_door')],
  [0x1c, b('gas_detected')],
  [0x1d, b('heat')],
  [0x1e, b('light')],
  [0x1f, b('unlocked')],
  [0x20, b('wet')],
  [0x21, b('motion')],
  [0x22, b('moving')],
  [0x23, b('occupancy')],
  [0x24, b('plugged-in')],
  [0x25, b('presence')],
  [0x26, b('problem')],
  [0x27, b('running')],
  [0x28, b('safe')],
  [0x29, b('smoke')],
  [0x2a, b('sound')],
  [0x2b, b('tamper')],
  [0x2c, b('vibration')],
  [0x2d, b('window')],
  [0x2e, u('hum', 1)],
  [0x2f, u('moi', 1)],
  [0x3a, { kind: 'button', key: 'button' }],
  [0x3b, { kind: 'command', key: 'command' }],
  [0x3c, { kind: 'dimmer', key: 'dimmer' }],
  [0x3d, u('count', 2)],
  [0x3e, u('count', 4)],
  [0x3f, s('rot', 2, 0.1)],
  [0x40, u('distance_mm', 2)],
  [0x41, u('distance_m', 2, 0.1)],
  [0x42, u('duration', 3, 0.001)],
  [0x43, u('current', 2, 0.001)],
  [0x44, u('speed', 2, 0.01)],
  [0x45, s('tempc', 2, 0.1)],
  [0x46, u('uv', 1, 0.1)],
  [0x47, u('volume_l', 2, 0.1)],
  [0x48, u('volume_ml', 2)],
  [0x49, u('flow_rate', 2, 0.001)],
  [0x4a, u('volt', 2, 0.1)],
  [0x4b, u('gas', 3, 0.001)],
  [0x4c, u('gas', 4, 0.001)],
  [0x4d, u('energy', 4, 0.001)],
  [0x4e, u('volume_l', 4, 0.001)],
  [0x4f, u('water', 4, 0.001)],
  [0x50, u('timestamp', 4)],
  [0x51, u('acc', 2, 0.001)],
  [0x52, u('gyro', 2, 0.001)],
  [0x53, { kind: 'text', key: 'text' }],
  [0x54, { kind: 'raw', key: 'raw' }],
  [0x55, u('volume_storage', 4, 0.001)],
  [0x56, u('fer', 2)],
  [0x57, s('tempc', 1)],
  [0x58, s('tempc', 1, 0.35)],
  [0x59, s('count', 1)],
  [0x5a, s('count', 2)],
  [0x5b, s('count', 4)],
  [0x5c, s('power', 4, 0.01)],
  [0x5d, s('current', 2, 0.001)],
  [0x5e, u('direction_deg', 2, 0.01)],
  [0x5f, u('precipitation', 2, 0.1)],
  [0x60, u('channel', 1)],
  [0x61, u('rpm', 2)],
  [0x62, s('speed', 4, 0.000001)],
  [0x63, s('acc', 4, 0.000001)],
  [0x64, u('lightlevel', 1)],
  [0x65, u('settings_rev', 1)],
  [0xf0, u('device_type', 2)],
  [0xf1, { kind: 'fw4', key: 'fw' }],
  [0xf2, { kind: 'fw3', key: 'fw' }],
]);

/** BTHome button events (0x3A) as names, and as Theengs' integer `button` press types. */
export const BUTTON_EVENTS: ReadonlyMap<number, { name: string; theengs: number }> = new Map([
  [0x00, { name: 'none', theengs: 0 }],
  [0x01, { name: 'press', theengs: 1 }],
  [0x02, { name: 'double_press', theengs: 2 }],
  [0x03, { name: 'triple_press', theengs: 3 }],
  [0x04, { name: 'long_press', theengs: 9 }],
  [0x05, { name: 'long_double_press', theengs: 5 }],
  [0x06, { name: 'long_triple_press', theengs: 6 }],
  [0x80, { name: 'hold_press', theengs: 11 }],
  // Shelly BLU buttons send 0xFE for "hold" (Theengs maps it to 11 too).
  [0xfe, { name: 'hold_press', theengs: 11 }],
]);

export const DIMMER_EVENTS = ['none', 'rotate_left', 'rotate_right'] as const;
export const COMMAND_OPCODES = ['off', 'on', 'toggle', 'step_up', 'step_down'] as const;
