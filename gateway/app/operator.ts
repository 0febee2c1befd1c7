// The read-only view of the running gateway and the operator's controls that components are
// given (gateway/app/component.ts), built from the gateway's parts in one place.
import type { AuthService } from '../auth/service.ts';
import type { Bridge } from '../bridge/bridge.ts';
import type { Broker } from '../broker/broker.ts';
import type { Adapter } from '../core/adapter.ts';
import type { ServiceRegistry } from '../core/services.ts';
import type { ClientTracker } from '../http/clients.ts';
import type { BanList } from '../limits/banned.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { DeviceRegistry } from '../registry/registry.ts';
import type { GatewayControls, GatewayView } from './component.ts';
import type { GatewayConfig } from './config.ts';
import { redactConfig } from './redact-config.ts';
import type { Supervisor } from './supervisor.ts';
import { VERSION } from './version.ts';

export interface OperatorParts {
  config(): GatewayConfig;
  supervisor: Supervisor;
  broker: Broker;
  auth: AuthService;
  bridge: Bridge;
  registry: DeviceRegistry;
  services: ServiceRegistry;
  metrics: Metrics;
  clients: ClientTracker;
  bans: BanList;
}

export function gatewayView(p: OperatorParts): GatewayView {
  const cfg = p.config();
  return {
    node: cfg.gateway.id,
    version: VERSION,
    startedAt: Date.now(),
    maxPacketSize: cfg.broker.max_packet_size,
    adapters: () => p.supervisor.health('adapter').map((h) => ({ ...h, protocols: (p.supervisor.instance(h.name) as Adapter | undefined)?.protocols })),
    components: () => p.supervisor.health('component'),
    bridge: () => p.bridge.health(),
    devices: (protocol) => p.registry.list(protocol),
    adapterPorts: (name) => (p.supervisor.instance(name) as Adapter | undefined)?.ports?.() ?? {},
    clients: p.clients,
    services: () => p.services.list(),
    config: () => redactConfig(p.config()) as Record<string, unknown>,
    metrics: p.metrics,
    authorize: (principal, action, topic) => p.auth.authorize(principal, action, topic),
    subscribe: (filter, onMessage) => p.broker.subscribe(filter, onMessage),
  };
}

export function gatewayControls(p: OperatorParts): GatewayControls {
  const isAdapter = (name: string) => p.supervisor.health('adapter').some((h) => h.name === name);
  return {
    restartAdapter: async (name) => isAdapter(name) && p.supervisor.restart(name),
    disconnectClient: (clientid) => p.clients.kick(clientid),
    disconnectDevice: async (protocol, id) => {
      // A device's protocol is the name of the adapter that serves it (coap, tcp, lwm2m...), or one
      // of the protocols an adapter declares (the modem adapter's lora and nbiot devices).
      const running = p.supervisor.health('adapter').map((h) => p.supervisor.instance(h.name) as Adapter | undefined);
      const adapter = isAdapter(protocol) ? (p.supervisor.instance(protocol) as Adapter | undefined) : running.find((a) => a?.protocols?.includes(protocol));
      if (!adapter) return 'not_found';
      if (!adapter.disconnect) return 'unsupported';
      return (await adapter.disconnect(id, 'kicked')) ? 'ok' : 'not_found';
    },
    publish: (msg) => p.broker.publish(msg),
    bans: p.bans,
  };
}
