import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';

// A scripted MQTT 5 "cloud" for behaviour a real broker will not produce on demand: the test
// decides, per received PUBLISH, which PUBACK reason code to answer or whether to drop the
// connection. Only what the bridge uses is implemented (CONNECT, PUBLISH QoS 0/1, SUBSCRIBE,
// PINGREQ, DISCONNECT).

export interface Received {
  topic: string;
  payload: string;
  id?: string;
  /** The PUBACK reason code answered (undefined for QoS 0 or a dropped connection). */
  answered?: number;
}

/** What to do with one PUBLISH: a PUBACK reason code, or 'close' to drop the connection unanswered. */
export type Verdict = number | 'close';

export class FakeCloud {
  /** Every PUBLISH received, whatever the answer. */
  readonly received: Received[] = [];
  connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, private readonly verdict: (p: Received, index: number) => Verdict) {}

  static async start(verdict: (p: Received, index: number) => Verdict = () => 0): Promise<FakeCloud> {
    let cloud!: FakeCloud;
    const server = createServer((sock) => cloud.serve(sock));
    cloud = new FakeCloud(server, verdict);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return cloud;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The messages answered with a success code (< 0x80), in arrival order. */
  get accepted(): Received[] {
    return this.received.filter((r) => r.answered !== undefined && r.answered < 0x80);
  }

  private serve(sock: Socket): void {
    this.connections++;
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {});
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const send = (p: Packet) => {
      if (!sock.destroyed) sock.write(mqttPacket.generate(p, { protocolVersion: 5 }));
    };
    parser.on('error', () => sock.destroy());
    parser.on('packet', (packet: Packet) => {
      switch (packet.cmd) {
        case 'connect':
          send({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false, properties: {} } as Packet);
          break;
        case 'publish': {
          const p = packet as IPublishPacket;
          const id = p.properties?.userProperties?.['fg-id'];
          const r: Received = { topic: p.topic, payload: p.payload.toString(), id: Array.isArray(id) ? id[0] : id };
          this.received.push(r);
          if (p.qos === 0) break;
          const v = this.verdict(r, this.received.length - 1);
          if (v === 'close') {
            sock.destroy();
            break;
          }
          r.answered = v;
          send({ cmd: 'puback', messageId: p.messageId, reasonCode: v } as Packet);
          break;
        }
        case 'subscribe':
          send({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map((s) => s.qos) } as Packet);
          break;
        case 'pingreq':
          send({ cmd: 'pingresp' });
          break;
        case 'disconnect':
          sock.end();
          break;
        default:
          break;
      }
    });
    sock.on('data', (d) => parser.parse(d));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
