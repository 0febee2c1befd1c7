import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

// The baseline a user would build instead of fieldgate: bare aedes on TCP, with its defaults, and
// (BARE_AEDES_COAP=1) node-coap with its defaults publishing each POST /ps/<topic> into it at QoS 1
// and answering 2.04 once aedes took it. bench/servers.ts bundles this file with esbuild and runs
// it with plain node, as the release bundle runs (tsx's loader thread alone costs ~50 MB of RSS).
// Prints {"mqtt":<port>,"coap":<port>} on stdout once listening; SIGTERM closes it.

const broker = await Aedes.createBroker();
const server = createServer(broker.handle);
await new Promise<void>((r) => server.listen(Number(process.env.BARE_AEDES_PORT ?? 0), '127.0.0.1', () => r()));
let coapPort = 0;
if (process.env.BARE_AEDES_COAP === '1') {
  const { createServer: createCoap } = await import('coap');
  const coap = createCoap((req, res) => {
    const topic = (req.url ?? '/').split('?')[0]!.replace(/^\/ps\//, '');
    broker.publish({ cmd: 'publish', topic, payload: req.payload, qos: 1, retain: false, dup: false }, () => {
      res.code = '2.04';
      res.end();
    });
  });
  // The socket is bound here and handed to listen(), node-coap's public seam, to know the port.
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  coap.listen(sock);
  coapPort = sock.address().port;
}
process.stdout.write(`${JSON.stringify({ mqtt: (server.address() as AddressInfo).port, coap: coapPort })}\n`);
process.once('SIGTERM', () => {
  server.close();
  broker.close(() => process.exit(0));
});
