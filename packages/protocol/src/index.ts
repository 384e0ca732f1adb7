export {
  PROTOCOL_VERSION, TOKEN_HEADER, TOKEN_PROTOCOL, WS_PROTOCOL, OFFER_HEADER, GRADIENT_FORMS, AGGREGATIONS,
  type Hello, type ShardData, type GradientForm, type Welcome, type Refused, type Step, type Gradient, type Done, type Alive, ALIVE_EVERY_MS, ALIVE_SILENCE_MS, type ToCoordinator, type ToWorker,
  type Aggregation, type SliceMap, type SliceStep, type SliceParams, type Part, type SliceSum, type Faulty, type ToSliceServer,
} from './messages.js';
export { ERROR_CODES, failure, isErrorCode, type ErrorCode, type Checked, type Failure } from './errors.js';
export { encode, encodeStep, encodeGradient, encodeSliceStep, encodeSliceValues, decodeMap, packr, type Frames } from './codec.js';
export { decodeHello, decodeGradient, decodeToWorker, decodeSliceValues, decodeFromSliceServer, decodeToSliceServer, MAX_SLICES, type Expectation, type Receiving, type SliceExpectation } from './validate.js';
export { sendFragments, encodeWithTail, decodeWithTail, TAIL_FRAGMENT_BYTES } from './tail-array.js';
export { listenWebSocket, admission, sameSecret, sameOrigin, tokenOf, isLoopback, upgradeRequired, type Admission, type Transport, type TransportOptions } from './transport.js';
export { ConnectionGuard, UPGRADE_TIMEOUT_MS, openFileLimit, socketBounds, type FloodReport, type SocketBounds } from './connection-guard.js';
export { THROTTLE_MS, Throttle } from './throttle.js';
export { SocketTraffic, type Traffic } from './traffic.js';
