/** Codes of the errors this package raises. */
export const EVENT_BUS_ERROR_CODES = Object.freeze({
  /** A payload or envelope does not match its event's schema (publish, or consume → DLQ). */
  EVENT_SCHEMA: 'E_EVENT_SCHEMA',
  /** The event type is not in the registry. */
  EVENT_UNKNOWN: 'E_EVENT_UNKNOWN',
  /** Redis did not accept the entry within `publish_timeout_ms` (or refused it). */
  PUBLISH_FAILED: 'E_PUBLISH_FAILED',
  /** A handler ran past `handler_timeout_ms`. */
  HANDLER_TIMEOUT: 'E_HANDLER_TIMEOUT',
  /** The bus is closed. */
  BUS_CLOSED: 'E_BUS_CLOSED',
  /** Invalid configuration or subscription. */
  BUS_CONFIG: 'E_BUS_CONFIG',
} as const);

/** A code of `EVENT_BUS_ERROR_CODES`. */
export type EventBusErrorCode = (typeof EVENT_BUS_ERROR_CODES)[keyof typeof EVENT_BUS_ERROR_CODES];
