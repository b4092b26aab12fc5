// The contract of a module (narrative, gamification, admin, or a fourth one): what the app needs
// to compose it without knowing it. Modules never import each other; what one needs from another
// is an event or a port in its deps, wired by the app.
import type { MigrationSource } from '@diana/db';
import type { Closeable } from '@diana/utils';
import type { ModuleSubscription } from './bus.js';

/**
 * A module as the app composes it: its bot handlers (`composer`: a grammY middleware, typed by
 * the app, so this layer needs no grammY), the events it consumes, the tables it owns, and a
 * lifecycle. The app installs each composer in order, subscribes each subscription
 * (`bus.subscribeModule`), applies the migrations in layer order, calls `start()` once the bot
 * is wired, and `close()` in reverse order.
 */
export interface DianaModule<Composer = unknown> extends Closeable {
  /** Short and unique: logs, start-up failures and `/readyz` name the module by it. */
  readonly name: string;
  readonly composer: Composer;
  readonly subscriptions: readonly ModuleSubscription[];
  /**
   * The module's own tables (the app applies every package's migrations, modules last); absent
   * when it owns none (narrative keeps its content in the DocumentStore and its progress in user state).
   */
  readonly migrations?: MigrationSource;
  /** Starts what runs on its own (jobs, story loading); resolves once it is running. */
  start(): Promise<void>;
  /**
   * Stops what it runs on its own (jobs); work in progress gets until `timeout_ms`. Its handlers
   * may still run afterwards, until the bus drains: close nothing they use here.
   */
  close(options?: { timeout_ms?: number }): Promise<void>;
}
