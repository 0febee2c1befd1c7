import { NbiotEmulator, type Datagram, type NbiotEmulatorOptions } from './nbiot-emulator.ts';

// Quectel BG96 / BG95 ("QI" TCP/IP command set), per the BG96 TCP/IP application note as
// summarised in modems.md §3.3 and §7: a PDP context (AT+QICSGP, AT+QIACT), a "UDP SERVICE"
// socket in buffer access mode, +QIURC: "recv",<id> once until the buffer is drained,
// AT+QIRD answering +QIRD: <len>,"<ip>",<port> followed by the raw bytes, and AT+QISEND with the
// "> " prompt (no newline) for the bytes of one datagram. Restart (AT+CFUN=1,1) prints RDY ... APP RDY.

export interface Bg96Options extends NbiotEmulatorOptions {
  /** Bytes per AT+QISEND (1460 in the application note). */
  maxDatagram?: number;
}

interface Socket {
  port: number;
  queue: Datagram[];
  /** A "recv" URC was sent and the buffer has not been drained since. */
  notified: boolean;
}

export class Bg96Emulator extends NbiotEmulator {
  protected readonly sep = ' ';
  protected readonly operator = '0,0,"fieldgate-net",9';
  private readonly sockets = new Map<number, Socket>();
  private pdp = false;
  apn = '';
  readonly maxDatagram: number;

  constructor(opts: Bg96Options = {}) {
    super(opts);
    this.maxDatagram = opts.maxDatagram ?? 1460;
  }

  get openPorts(): number[] {
    return [...this.sockets.values()].map((s) => s.port);
  }

  protected override powerOn(): void {
    super.powerOn();
    this.sockets.clear();
    this.pdp = false;
  }

  protected isSoftReset(line: string): boolean {
    return line.toUpperCase() === 'AT+CFUN=1,1';
  }

  protected banner(): void {
    this.say('RDY', '+CFUN: 1', '+CPIN: READY', '+QUSIM: 1', '+QIND: SMS DONE', 'APP RDY');
  }

  protected override onCoverageLost(): void {
    // The network deactivates the PDP context: every socket on it is gone.
    if (!this.pdp) return;
    this.pdp = false;
    this.sockets.clear();
    this.say('+QIURC: "pdpdeact",1');
  }

  deliver(d: Datagram, toPort?: number): void {
    const entry = [...this.sockets.entries()].find(([, s]) => toPort === undefined || s.port === toPort);
    if (!entry || !this.attached || !this.pdp) {
      this.lost++;
      return;
    }
    const [id, s] = entry;
    s.queue.push(d);
    if (!s.notified) {
      s.notified = true;
      this.urc(`+QIURC: "recv",${id}`);
    }
  }

  closeSocket(): void {
    for (const [id, s] of this.sockets) {
      s.queue.length = 0;
      this.sockets.delete(id);
      this.say(`+QIURC: "closed",${id}`);
    }
  }

  protected command(line: string, up: string): boolean {
    if (up === 'AT+CFUN=1,1') {
      this.final('OK');
      this.later(20, () => this.reboot());
      return true;
    }
    let m = /^AT\+QICSGP=1,1,"([^"]*)","[^"]*","[^"]*",\d$/i.exec(line);
    if (m) {
      this.apn = m[1] ?? '';
      this.final('OK');
      return true;
    }
    if (up === 'AT+QIACT?') {
      if (this.pdp) this.say(`+QIACT: 1,1,1,"${this.ip}"`);
      this.final('OK');
      return true;
    }
    if (up === 'AT+QIACT=1') {
      if (this.pdp || !this.attached) this.final('ERROR');
      else {
        this.pdp = true;
        this.final('OK');
      }
      return true;
    }
    m = /^AT\+QIOPEN=1,(\d+),"UDP SERVICE","127\.0\.0\.1",0,(\d{1,5}),([012])$/.exec(up);
    if (m) {
      this.open(Number(m[1]), Number(m[2]));
      return true;
    }
    m = /^AT\+QICLOSE=(\d+)$/.exec(up);
    if (m) {
      this.sockets.delete(Number(m[1]));
      this.final('OK');
      return true;
    }
    m = /^AT\+QISEND=(\d+),(\d+),"([0-9.]+)",(\d{1,5})$/.exec(up);
    if (m) {
      this.send(Number(m[1]), Number(m[2]), m[3] ?? '', Number(m[4]));
      return true;
    }
    m = /^AT\+QIRD=(\d+)(?:,(\d+))?$/.exec(up);
    if (m) {
      this.read(Number(m[1]), Number(m[2] ?? 1500));
      return true;
    }
    return false;
  }

  private open(id: number, port: number): void {
    this.final('OK');
    // The result comes as a second phase; 563 = socket identity in use, 566 = no PDP context.
    const result = this.sockets.has(id) ? 563 : !this.pdp ? 566 : 0;
    if (result === 0) this.sockets.set(id, { port, queue: [], notified: false });
    this.say(`+QIOPEN: ${id},${result}`);
  }

  private send(id: number, len: number, ip: string, port: number): void {
    if (!this.sockets.has(id) || len < 1 || len > this.maxDatagram) return this.final('ERROR');
    this.write(Buffer.from('> ', 'latin1'));
    this.readRaw(len, (payload) => {
      if (!this.attached || !this.sockets.has(id)) return this.final('SEND FAIL');
      this.transmit({ address: ip, port, payload });
      this.final('SEND OK');
    });
  }

  private read(id: number, max: number): void {
    const s = this.sockets.get(id);
    if (!s) return this.final('ERROR');
    const d = s.queue.shift();
    if (!d) {
      s.notified = false;
      this.say('+QIRD: 0');
      return this.final('OK');
    }
    const data = d.payload.subarray(0, max);
    this.write(Buffer.concat([Buffer.from(`+QIRD: ${data.length},"${d.address}",${d.port}\r\n`, 'latin1'), data, Buffer.from('\r\n', 'latin1')]));
    this.final('OK');
  }
}
