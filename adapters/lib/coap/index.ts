// The one CoAP engine (RFC 7252, 7641, 7959) shared by the CoAP and LwM2M adapters. See README.md.
export { CoapEndpoint, type EndpointOptions, type EndpointEvents } from './endpoint.ts';
export type { ConfirmableCallbacks } from './link.ts';
export type { ClientRequest } from './client.ts';
export { fresher } from './client.ts';
export { DEFAULT_BLOCK1, type RequestHandler, type Respond, type ServerOptions } from './server.ts';
export { CoapExchangeError, CoapResetError, CoapTimeoutError } from './errors.ts';
export { ManualClock, systemClock, type Clock } from './clock.ts';
export { bindDualStack, bindUdp, peerKey, DEFAULT_MAX_MESSAGE, type DatagramTransport, type Peer } from './transport.ts';
export { EXCHANGE_LIFETIME_MS, MAX_TRANSMIT_WAIT_MS, NON_LIFETIME_MS, RFC7252_TRANSMISSION, retransmit, type TransmissionParams } from './transmit.ts';
export { methodOf, optionValue, optionValues, type CoapOption, type CoapReply, type CoapRequest, type CoapResponse, type MessageType, type Method } from './message.ts';
export { Block1Assembler, blockSize, decodeBlock, encodeBlock, etagOf, sliceBlock, szxFor, type Block, type Block1Limits } from './block.ts';
export { LruMap, RateLimiter } from './bounded.ts';
export { OPT, TYPE, checkDatagram, codeText, emptyAckFor, readUint, replyFor, resetFor, uintOption } from './wire.ts';
