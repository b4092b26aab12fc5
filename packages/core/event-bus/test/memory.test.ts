import { createMemoryTransport } from '../src/adapters/memory.js';
import { describeEventBusTransport } from '../src/testing.js';
import type { StreamTransport } from '../src/types.js';

// One store per namespace: two buses on one namespace are two "processes" on one store.
const stores = new Map<string, StreamTransport>();
describeEventBusTransport('memory', async (namespace) => {
  let store = stores.get(namespace);
  if (!store) {
    store = createMemoryTransport();
    stores.set(namespace, store);
  }
  const shared = store;
  // closing a view must not close the shared store for the other "process"
  return { ...shared, close: async () => {} };
});
