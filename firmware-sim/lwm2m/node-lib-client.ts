// lwm2m-node-lib's client (Telefonica, a devDependency) as an independent third-party LwM2M
// client for tests: promise wrappers around its callback API. It keeps its state in module
// globals, so one process runs one of these clients at a time.
import { createRequire } from 'node:module';

type Cb<T = unknown> = (err: Error | null | undefined, v?: T) => void;

export interface DeviceInformation {
  location: string;
  localPort: number;
  serverInfo: unknown;
}

interface ClientApi {
  init(config: object, cb?: () => void): void;
  registry: {
    create(uri: string, cb: Cb): void;
    setResource(uri: string, resourceId: string, value: unknown, cb: Cb): void;
    reset(cb: Cb): void;
  };
  register(host: string, port: number, url: string | null, ep: string, cb: Cb<DeviceInformation>): void;
  update(info: DeviceInformation, cb: Cb<DeviceInformation>): void;
  unregister(info: DeviceInformation, cb: Cb): void;
  setHandler(serverInfo: unknown, type: 'write' | 'execute' | 'read', handler: (...args: unknown[]) => void): void;
  cancellAllObservers(cb: Cb): void;
  listObservers(cb: Cb<{ id: string }[]>): void;
}

const lib = createRequire(import.meta.url)('lwm2m-node-lib') as { client: ClientApi };

const call = <T>(f: (cb: Cb<T>) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));

export interface NodeLibOptions {
  host: string;
  port: number;
  ep: string;
  lifetime: number;
}

export class NodeLibClient {
  readonly client = lib.client;
  info?: DeviceInformation;
  readonly writes: { objectType: unknown; objectId: unknown; resourceId: unknown; value: unknown }[] = [];
  readonly executes: { objectType: unknown; objectId: unknown; resourceId: unknown; args: unknown }[] = [];

  constructor(private readonly opts: NodeLibOptions) {}

  async setup(resources: Record<string, Record<string, string | number>>): Promise<void> {
    this.client.init({ logLevel: 'FATAL', client: { lifetime: String(this.opts.lifetime), version: '1.0', logLevel: 'FATAL', observe: { period: 100_000 }, ipProtocol: 'udp4', serverProtocol: 'udp4', formats: [{ name: 'lightweightm2m/text', value: 1541 }], writeFormat: 'lightweightm2m/text' } });
    await call((cb) => this.client.registry.reset(cb));
    for (const [uri, res] of Object.entries(resources)) {
      await call((cb) => this.client.registry.create(uri, cb));
      for (const [id, v] of Object.entries(res)) await call((cb) => this.client.registry.setResource(uri, id, v, cb));
    }
  }

  async register(): Promise<DeviceInformation> {
    this.info = await call<DeviceInformation>((cb) => this.client.register(this.opts.host, this.opts.port, null, this.opts.ep, cb));
    this.registerHandlers();
    return this.info;
  }

  private registerHandlers(): void {
    const server = this.info?.serverInfo;
    this.client.setHandler(server, 'write', (objectType, objectId, resourceId, value, cb) => {
      this.writes.push({ objectType, objectId, resourceId, value });
      (cb as () => void)();
    });
    this.client.setHandler(server, 'execute', (objectType, objectId, resourceId, args, cb) => {
      this.executes.push({ objectType, objectId, resourceId, args });
      (cb as () => void)();
    });
  }

  async update(): Promise<void> {
    if (!this.info) throw new Error('not registered');
    // Its update() starts a second listener on the new request's port and keeps the first one
    // running (leaked until exit): close the old one, which its deviceInformation carries.
    const old = (this.info.serverInfo as { server?: { close(cb?: () => void): void } }).server;
    this.info = await call<DeviceInformation>((cb) => this.client.update(this.info!, cb));
    this.registerHandlers();
    await new Promise<void>((resolve) => (old ? old.close(() => resolve()) : resolve()));
  }

  async unregister(): Promise<void> {
    if (!this.info) return;
    const info = this.info;
    this.info = undefined;
    await call((cb) => this.client.unregister(info, cb));
  }

  /** The observations the library is serving, by "/obj/inst/res". */
  async observers(): Promise<string[]> {
    return (await call<{ id: string }[]>((cb) => this.client.listObservers(cb))).map((o) => o.id);
  }

  async setResource(uri: string, id: string, value: string | number): Promise<void> {
    await call((cb) => this.client.registry.setResource(uri, id, value, cb));
  }
}
