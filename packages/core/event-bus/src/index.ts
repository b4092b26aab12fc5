// @diana/event-bus: typed events on streams, at-least-once delivery, outbox and inbox, modules.

// Events
export type { EventDefinition, EventEnvelope, EventRegistry, EventType, Payload, PayloadInput } from './events.js';
export { decodeEnvelope, defineEvents, encodeEnvelope, mergeEvents, validatePayload } from './events.js';

// The bus
export type {
  BroadcastOptions,
  BusHealth,
  EventBusDeps,
  EventBusService,
  EventOf,
  ModuleSubscription,
  PublishOptions,
  SubscribeOptions,
  Subscription,
} from './bus.js';
export type { ConsumerStatus, EventHandler, HandlerContext } from './consumer.js';
export type { EventBusConfigInput } from './config.js';
export { createEventBus } from './bus.js';
export { DEFAULT_MAX_ATTEMPTS, EventBusConfig, inboxRetentionTooShort } from './config.js';

// Outbox and inbox
export type { OutboxRelay, OutboxRelayDeps } from './relay.js';
export type { Inbox } from './inbox.js';
export { createOutboxRelay, EVENT_BUS_MIGRATIONS } from './relay.js';
export { OUTBOX_CHANNEL } from './outbox.js';
export { createInbox } from './inbox.js';

// Modules
export type { DianaModule } from './module.js';

// Transports: the port, and memory (also ./adapters/memory); redis-streams is ./adapters/redis-streams
export type { DeadLetter, Delivery, GroupStats, RelayedEvent, StreamReader, StreamTransport } from './types.js';
export type { MemoryTransport, MemoryTransportOptions } from './adapters/memory.js';
export { createMemoryTransport } from './adapters/memory.js';

// Errors
export type { EventBusErrorCode } from './errors.js';
export { EVENT_BUS_ERROR_CODES } from './errors.js';
