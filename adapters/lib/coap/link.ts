import type { ParsedPacket } from 'coap-packet';
import type { Clock } from './clock.ts';
import type { Peer } from './transport.ts';
import type { Retransmission, TransmissionParams } from './transmit.ts';

// Its own module so the roles (client.ts, server.ts) and the endpoint that implements it do not import each other.

/** The endpoint's side of the roles: sending, message ids, transmission of CON messages. */
export interface Link {
  readonly id: string;
  readonly clock: Clock;
  readonly params: TransmissionParams;
  readonly maxMessageSize: number;
  /** Largest block size exponent the transport's message size allows for the preferred block size. */
  readonly szx: number;
  send(buf: Buffer, peer: Peer): void;
  messageId(): number;
  /** Sends a CON and retransmits it until its ACK (empty or piggy-backed) or RST, or gives up. */
  sendConfirmable(buf: Buffer, messageId: number, peer: Peer, on: ConfirmableCallbacks): Retransmission;
}

export interface ConfirmableCallbacks {
  ack(packet: ParsedPacket): void;
  reset(): void;
  timeout(sent: number): void;
}
