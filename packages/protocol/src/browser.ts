/**
 * What a browser tab's worker uses of the protocol: the messages, their encoding
 * and their checks, without the server side (transport, guards). The browser
 * bundle maps `@shardprop/protocol` here; Node imports index.ts.
 */
export { PROTOCOL_VERSION, TOKEN_PROTOCOL, WS_PROTOCOL, OFFER_HEADER, ALIVE_SILENCE_MS, type Hello, type Step, type ToWorker, type Welcome, type Aggregation, type ShardData } from './messages.js';
export { failure, type ErrorCode, type Checked, type Failure } from './errors.js';
export { encode, encodeGradient } from './codec.js';
export { decodeToWorker, type Receiving } from './validate.js';
