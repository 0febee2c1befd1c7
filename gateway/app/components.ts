import type { ComponentDefinition } from './component.ts';

/**
 * Every component the gateway ships, in start order (after the adapters unless their provides/uses
 * say otherwise). Each definition imports its module only when enabled: `npm start` with
 * `http.enabled: false` never loads fastify.
 */
export const builtinComponents: readonly ComponentDefinition[] = [
  {
    name: 'http',
    provides: ['http/api'],
    enabled: (cfg) => cfg.http.enabled,
    create: async (cfg) => new (await import('../http/component.ts')).ManagementPlane(cfg.http),
  },
];
