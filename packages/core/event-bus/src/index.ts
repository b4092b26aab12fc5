// Events

// Transports: memory (also ./adapters/memory); redis-streams is ./adapters/redis-streams
export { createMemoryTransport } from './adapters/memory.js';
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

// The bus
export { createEventBus } from './bus.js';
export type { EventBusConfigInput } from './config.js';
export { DEFAULT_MAX_ATTEMPTS, EventBusConfig } from './config.js';
export type { ConsumerStatus, EventHandler, HandlerContext } from './consumer.js';
export type { EventBusErrorCode } from './errors.js';
// Errors
export { EVENT_BUS_ERROR_CODES } from './errors.js';
export type { EventDefinition, EventEnvelope, EventRegistry, EventType, Payload, PayloadInput } from './events.js';
export { decodeEnvelope, defineEvents, encodeEnvelope, mergeEvents, validatePayload } from './events.js';
export type { Inbox } from './inbox.js';
export { createInbox } from './inbox.js';
export type { DianaModule } from './module.js';
export { OUTBOX_CHANNEL } from './outbox.js';
export type { OutboxRelay, OutboxRelayDeps } from './relay.js';
// Outbox and inbox
export { createOutboxRelay, EVENT_BUS_MIGRATIONS } from './relay.js';
export type { DeadLetter, Delivery, GroupStats, StreamReader, StreamTransport } from './types.js';
