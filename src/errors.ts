/**
 * Every error ortex raises carries a `code` from this catalogue and the HTTP status a
 * server should answer with. One table, so the server maps codes to statuses in one place.
 */

export const ERROR_CODES = {
  ERR_INVALID_ARG: 400,
  ERR_OPTION_INVALID: 400,
  ERR_INPUT_NAME: 400,
  ERR_INPUT_MISSING: 400,
  ERR_INPUT_TYPE: 400,
  ERR_INPUT_SHAPE: 400,
  ERR_INPUT_DATA_LENGTH: 400,
  ERR_INPUT_DETACHED: 400,
  ERR_OUTPUT_NAME: 400,
  ERR_OUTPUT_TYPE: 500,
  ERR_MODEL_NOT_FOUND: 404,
  ERR_MODEL_INVALID: 422,
  ERR_SESSION_RELEASED: 409,
  ERR_SESSION_BUSY: 409,
  ERR_SESSION_STATE: 409,
  ERR_BINDING_BUSY: 409,
  ERR_SESSION_NOT_LOADED: 409,
  ERR_RUN_CANCELLED: 499,
  ERR_RUN_TIMEOUT: 504,
  ERR_EP_UNAVAILABLE: 503,
  // Dynamic batcher (createModel)
  ERR_QUEUE_FULL: 429,
  ERR_REQUEST_TIMEOUT: 504,
  ERR_REQUEST_ABORTED: 499,
  ERR_MODEL_CLOSED: 503,
  ERR_MODEL_NOT_BATCHABLE: 422,
  ERR_MODEL_THREADS: 500,
  ERR_NATIVE_LOAD: 500,
  ERR_ORT_INIT: 500,
  // Server / Open Inference Protocol
  ERR_SERVER_UWS_LOAD: 500,
  ERR_REQUEST_JSON: 400,
  ERR_REQUEST_INVALID: 400,
  ERR_REQUEST_TOO_LARGE: 413,
  ERR_MODEL_CONFIG: 400,
  ERR_MODEL_NOT_READY: 503,
  ERR_ROUTE_NOT_FOUND: 404,
  ERR_REPOSITORY_MODE: 400,
  ERR_SERVER_DRAINING: 503,
  ERR_SERVER_LISTEN: 500,
  ERR_INTERNAL: 500,
  // Server hardening: names, model control, TLS, admission limits (src/server/names.ts, auth.ts, tls.ts, limits.ts)
  ERR_MODEL_NAME: 400,
  ERR_MODEL_VERSION: 400,
  ERR_CONTROL_UNAUTHORIZED: 401,
  ERR_ORIGIN_FORBIDDEN: 403,
  ERR_SERVER_OVERLOADED: 503,
  ERR_SERVER_TLS: 500,
  // WebSocket streaming (src/server/ws*.ts) and the clients (src/client/)
  ERR_WS_FRAME: 400,
  ERR_WS_IN_FLIGHT: 429,
  ERR_CLIENT_CONNECTION: 503,
  ERR_CLIENT_PROTOCOL: 502,
  // The model toolkit (ortex inspect/optimize/quantize/compare).
  ERR_MODEL_NOT_ONNX: 422,
  ERR_MODEL_OPSET: 422,
  ERR_QUANTIZE_OP: 400,
  ERR_FP16_RANGE: 422,
  ERR_OUTPUT_PATH: 400,
  ERR_COMPARE_MISMATCH: 400,
  // ONNX Runtime's own status codes, surfaced as ERR_ORT_<CODE>.
  ERR_ORT_FAIL: 500,
  ERR_ORT_INVALID_ARGUMENT: 400,
  ERR_ORT_NO_SUCHFILE: 404,
  ERR_ORT_NO_MODEL: 422,
  ERR_ORT_ENGINE_ERROR: 500,
  ERR_ORT_RUNTIME_EXCEPTION: 500,
  ERR_ORT_INVALID_PROTOBUF: 422,
  ERR_ORT_MODEL_LOADED: 409,
  ERR_ORT_NOT_IMPLEMENTED: 501,
  ERR_ORT_INVALID_GRAPH: 422,
  ERR_ORT_EP_FAIL: 500,
  ERR_ORT_MODEL_LOAD_CANCELED: 499,
  ERR_ORT_MODEL_REQUIRES_COMPILATION: 422,
  ERR_ORT_NOT_FOUND: 404,
  ERR_ORT_DEVICE_RESET: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

interface Coded {
  readonly code: ErrorCode;
  readonly status: number;
}

function setCode(err: Error & { code: ErrorCode; status: number }, code: ErrorCode): void {
  err.code = code;
  err.status = ERROR_CODES[code];
}

/** An error from ortex or ONNX Runtime at run time. */
export class OrtexError extends Error implements Coded {
  declare readonly code: ErrorCode;
  declare readonly status: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OrtexError';
    setCode(this, code);
  }
}

/** An argument or option of the wrong kind. */
export class OrtexTypeError extends TypeError implements Coded {
  declare readonly code: ErrorCode;
  declare readonly status: number;
  constructor(code: ErrorCode, message: string) {
    super(message);
    setCode(this, code);
  }
}

/** An argument or option of the right kind but out of range. */
export class OrtexRangeError extends RangeError implements Coded {
  declare readonly code: ErrorCode;
  declare readonly status: number;
  constructor(code: ErrorCode, message: string) {
    super(message);
    setCode(this, code);
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/** The HTTP status for any error: its catalogue status, or 500 for anything unknown. */
export function httpStatusOf(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  return isErrorCode(code) ? ERROR_CODES[code] : 500;
}

/**
 * Re-raises an error thrown by the native addon as an OrtexError created here, so its
 * stack shows the caller's frames (V8 adds the async frames of the awaiting caller).
 */
export function fromNative(err: unknown, context?: string): OrtexError | OrtexTypeError {
  if (err instanceof OrtexError || err instanceof OrtexTypeError || err instanceof OrtexRangeError) return err;
  const e = err as { code?: unknown; message?: string };
  const message = (context ? `${context}: ` : '') + (e?.message ?? String(err));
  const code = isErrorCode(e?.code) ? e.code : 'ERR_ORT_FAIL';
  return err instanceof TypeError ? new OrtexTypeError(code, message) : new OrtexError(code, message, { cause: err });
}
