// Why a request the engine sent as a client did not get a response.

/** No ACK after MAX_RETRANSMIT retransmissions, or no response within the request's timeout. */
export class CoapTimeoutError extends Error {
  readonly code = 'coap_timeout';
  constructor(message: string, readonly attempts: number) {
    super(message);
    this.name = 'CoapTimeoutError';
  }
}

/** The peer answered with a Reset: it could not process the request (RFC 7252 4.2). */
export class CoapResetError extends Error {
  readonly code = 'coap_reset';
  constructor(message: string) {
    super(message);
    this.name = 'CoapResetError';
  }
}

/** The exchange ended without a usable response: endpoint closed, bad block-wise response, too large. */
export class CoapExchangeError extends Error {
  readonly code = 'coap_error';
  constructor(message: string) {
    super(message);
    this.name = 'CoapExchangeError';
  }
}
