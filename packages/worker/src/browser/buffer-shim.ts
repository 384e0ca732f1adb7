// The bundle's Buffer (esbuild's inject): the protocol's encoding uses Node's Buffer; in a browser it is the `buffer` package's, a Uint8Array too.
export { Buffer } from 'buffer';
