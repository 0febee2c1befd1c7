import type { AdapterDefinition } from '../core/adapter.ts';
import { bleAdapter } from '../../adapters/ble/index.ts';
import { coapAdapter } from '../../adapters/coap/index.ts';
import { tcpAdapter } from '../../adapters/tcp/index.ts';
import { lwm2mAdapter } from '../../adapters/lwm2m/index.ts';
import { modemAdapter } from '../../adapters/modem/index.ts';

/**
 * Every protocol adapter the gateway ships, in start order. This is the only module that imports
 * adapters; each protocol's issue adds its definition here. A definition is its name and config
 * schema; its create() imports the adapter's module, so a disabled adapter's code and dependencies
 * (noble, serialport, cbor2) are never loaded (in the release bundle: never read from disk).
 */
export const builtinAdapters: readonly AdapterDefinition[] = [tcpAdapter, coapAdapter, lwm2mAdapter, bleAdapter, modemAdapter];
