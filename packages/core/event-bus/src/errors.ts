/** Codes of the errors this package raises. */
export const EVENT_BUS_ERROR_CODES = Object.freeze({
  /** A payload or envelope does not match its event's schema (publish, or consume → DLQ). */
  EVENT_SCHEMA: 'E_BUS_EVENT_SCHEMA',
  /** The event type is not in the registry. */
  EVENT_UNKNOWN: 'E_BUS_EVENT_UNKNOWN',
  /** The entry was not appended and never will be: Redis unreachable, refused it, or the deadline passed before it was sent. */
  PUBLISH_FAILED: 'E_BUS_PUBLISH_FAILED',
  /**
   * The deadline passed after the entry was sent: it may or may not be in the stream. Retry
   * only idempotently (through the outbox, or with the same event id where consumers dedupe).
   */
  PUBLISH_OUTCOME_UNKNOWN: 'E_BUS_PUBLISH_OUTCOME_UNKNOWN',
  /**
   * Appended on the master, but fewer replicas than `wait_replicas` confirmed it within
   * `wait_timeout_ms`: it may be delivered, or lost if the master fails now. Retry only
   * idempotently, as for an unknown outcome.
   */
  PUBLISH_NOT_REPLICATED: 'E_BUS_PUBLISH_NOT_REPLICATED',
  /** A handler ran past `handler_timeout_ms`. */
  HANDLER_TIMEOUT: 'E_BUS_HANDLER_TIMEOUT',
  /** The bus is closed. */
  BUS_CLOSED: 'E_BUS_CLOSED',
  /** Invalid configuration or subscription. */
  BUS_CONFIG: 'E_BUS_CONFIG',
} as const);

/** A code of `EVENT_BUS_ERROR_CODES`. */
export type EventBusErrorCode = (typeof EVENT_BUS_ERROR_CODES)[keyof typeof EVENT_BUS_ERROR_CODES];
