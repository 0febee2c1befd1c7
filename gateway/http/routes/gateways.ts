import type { FastifyInstance } from 'fastify';
import { deviceIp, devicePort, type DeviceAddressing } from '../../core/identity.ts';
import type { DeviceRecord } from '../../registry/registry.ts';
import { errorBody, paged, pagedOf, pageQuery, rfc3339, type PageQuery } from '../schemas.ts';

import type { OpsView } from '../view.ts';
import { onlineDevices } from './fieldgate.ts';
import type { RouteDeps } from './deps.ts';

/**
 * EMQX's ip_address and port of a registry record: an IP peer's address and port; for a device
 * without an IP (a BLE MAC, a serial path, a LoRa modem) its address as it is, and no port.
 */
export function splitAddress(d: DeviceAddressing): { ip_address: string | null; port: number | null } {
  const ip = deviceIp(d);
  return ip === undefined ? { ip_address: d.address ?? null, port: null } : { ip_address: ip, port: devicePort(d) ?? null };
}

export function gatewayClientObject(view: OpsView, d: DeviceRecord) {
  return {
    node: view.node,
    clientid: d.id,
    username: d.username ?? null,
    mountpoint: null,
    proto_name: d.protocol.toUpperCase(),
    ...splitAddress(d),
    connected: d.online,
    conn_state: d.online ? 'connected' : 'disconnected',
    created_at: rfc3339(d.first_seen),
    last_seen_at: rfc3339(d.last_seen),
    is_bridge: false,
  };
}

const gatewayClient = {
  type: 'object',
  properties: {
    node: { type: 'string' },
    clientid: { type: 'string' },
    username: { type: ['string', 'null'] },
    mountpoint: { type: ['string', 'null'] },
    proto_name: { type: 'string' },
    ip_address: { type: ['string', 'null'] },
    port: { type: ['integer', 'null'] },
    connected: { type: 'boolean' },
    conn_state: { type: 'string' },
    created_at: { type: ['string', 'null'], description: 'first seen' },
    last_seen_at: { type: ['string', 'null'], description: 'fieldgate: last heard from' },
    is_bridge: { type: 'boolean' },
  },
} as const;

const gatewayItem = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    status: { type: 'string', enum: ['running', 'stopped'] },
    current_connections: { type: 'integer' },
    listeners: {
      type: 'array',
      description: 'the sockets the adapter has bound; none for the BLE radio or a modem',
      items: { type: 'object', properties: { id: { type: 'string' }, type: { type: 'string' }, name: { type: 'string' }, bind: { type: 'string' }, running: { type: 'boolean' } } },
    },
    health: { type: 'string', description: 'fieldgate: starting, running, unhealthy, stopped' },
    restarts: { type: 'integer' },
    last_error: { type: ['string', 'null'] },
  },
} as const;

/**
 * An adapter's devices: those registered under its name and under the device protocols it declares
 * (the modem's LoRa nodes and modems under `lora`, NB-IoT peers under `nbiot`); undefined when no
 * enabled adapter has that name.
 */
export function adapterDevices(view: OpsView, name: string): DeviceRecord[] | undefined {
  const a = view.adapters().find((x) => x.name === name);
  if (!a) return undefined;
  return [name, ...(a.protocols ?? [])].flatMap((p) => view.devices(p));
}

const clientsQuery = {
  type: 'object',
  properties: { ...pageQuery, clientid: { type: 'string' }, username: { type: 'string' }, ip_address: { type: 'string' }, conn_state: { type: 'string', enum: ['connected', 'disconnected'] }, like_clientid: { type: 'string' } },
} as const;

type ClientsQuery = PageQuery & { clientid?: string; username?: string; ip_address?: string; conn_state?: string; like_clientid?: string };

/** The adapters, and each one's devices as EMQX lists a gateway's clients. */
function listRoutes(app: FastifyInstance, view: OpsView): void {
  app.get('/api/v5/gateways', {
    schema: {
      summary: 'Protocol adapters as EMQX gateways (a plain array)',
      tags: ['gateways'],
      querystring: { type: 'object', properties: { status: { type: 'string', enum: ['running', 'stopped', 'unloaded'] } } },
      responses: { 200: { type: 'array', items: gatewayItem } },
    },
  }, async (req) => {
    const want = (req.query as { status?: string }).status;
    return view.adapters()
      .map((a) => ({
        name: a.name,
        status: a.state === 'running' ? 'running' : 'stopped',
        current_connections: onlineDevices(view, a),
        listeners: view.listeners(a.name),
        health: a.state,
        restarts: a.restarts,
        last_error: a.last_error ?? null,
      }))
      .filter((g) => !want || g.status === want);
  });

  app.get('/api/v5/gateways/:name/clients', {
    schema: {
      summary: "An adapter's devices (EMQX gateway clients, from the device registry)",
      tags: ['gateways'],
      params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      querystring: clientsQuery,
      responses: { 200: pagedOf(gatewayClient), 404: errorBody },
    },
  }, async (req, reply) => {
    const name = (req.params as { name: string }).name;
    const devices = adapterDevices(view, name);
    if (!devices) return reply.code(404).send({ code: 'RESOURCE_NOT_FOUND', message: `no enabled adapter named ${name}` });
    const q = req.query as ClientsQuery;
    const rows = devices.map((d) => gatewayClientObject(view, d)).filter((c) =>
      (!q.clientid || c.clientid === q.clientid) &&
      (!q.username || c.username === q.username) &&
      (!q.ip_address || c.ip_address === q.ip_address) &&
      (!q.conn_state || c.conn_state === q.conn_state) &&
      (!q.like_clientid || c.clientid.includes(q.like_clientid)));
    return paged(rows, q, !q.like_clientid);
  });
}

/** One device of an adapter: read it, or end its session. */
function oneClientRoutes(app: FastifyInstance, view: OpsView): void {
  const clientParams = { type: 'object', properties: { name: { type: 'string' }, clientid: { type: 'string' } }, required: ['name', 'clientid'] } as const;
  const notFound = { code: 'CLIENT_NOT_FOUND', message: 'Client not found' };

  app.get('/api/v5/gateways/:name/clients/:clientid', {
    schema: { summary: "One of an adapter's devices (EMQX gateway client)", tags: ['gateways'], params: clientParams, responses: { 200: gatewayClient, 404: errorBody } },
  }, async (req, reply) => {
    const { name, clientid } = req.params as { name: string; clientid: string };
    const d = adapterDevices(view, name)?.find((x) => x.id === clientid);
    return d ? gatewayClientObject(view, d) : reply.code(404).send(notFound);
  });

  // EMQX's kick of a gateway client: the same as DELETE /api/v5/devices/{protocol}/{id}.
  app.delete('/api/v5/gateways/:name/clients/:clientid', {
    schema: { summary: "End a device's session in its adapter (reason \"kicked\"), as DELETE /api/v5/devices/{protocol}/{id}", tags: ['gateways'], params: clientParams, responses: { 204: { type: 'null' }, 400: errorBody, 404: errorBody } },
  }, async (req, reply) => {
    const { name, clientid } = req.params as { name: string; clientid: string };
    const r = await view.disconnectDevice(name, clientid);
    if (r === 'unsupported') return reply.code(400).send({ code: 'NOT_SUPPORTED', message: `the ${name} adapter has no device sessions to end` });
    if (r === 'not_found') return reply.code(404).send(notFound);
    req.log.info({ protocol: name, id: clientid, by: req.apiKey ?? 'loopback' }, 'device disconnected');
    return reply.code(204).send();
  });
}

export function gatewayRoutes(app: FastifyInstance, { view }: RouteDeps): void {
  listRoutes(app, view);
  oneClientRoutes(app, view);
}
