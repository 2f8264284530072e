/**
 * ortex's clients: OrtexHttpClient (the Open Inference Protocol over HTTP, any KServe v2 /
 * Triton server) and OrtexWsClient (ortex's WebSocket streaming endpoint).
 *
 * @example
 * import { OrtexWsClient, Tensor } from 'ortex';
 * const client = await new OrtexWsClient('ws://127.0.0.1:8000/v2/stream').connect();
 * const { y } = await client.infer('ctr_mlp', { x: new Tensor('float32', new Float32Array(64), [1, 64]) });
 */

export { OrtexHttpClient } from './http-client.js';
export type { HttpClientOptions, ModelMetadata, TensorMetadata } from './http-client.js';
export { OrtexWsClient } from './ws-client.js';
export type { WsClientOptions, CloseInfo } from './ws-client.js';
export type { ClientInferOptions } from './infer-message.js';
export type { WebSocketConstructor, WebSocketLike, WebSocketEventLike } from './web-socket.js';
