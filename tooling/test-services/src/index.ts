// Finding servers

export type { Barrier } from './barrier.js';
// Concurrency
export { createBarrier } from './barrier.js';
export type { TestRedisCluster } from './cluster-prefix.js';
// Redis Cluster
export { deleteByPrefixOnCluster, keysPerMaster, useTestRedisCluster } from './cluster-prefix.js';
export { getMongoUrl, getPostgresUrl, getRedisUrl, getRepoRoot } from './discover.js';
export { getRedisCluster, parseClusterNodes, REDIS_CLUSTER_ENV } from './discover-cluster.js';
export type { FakeCall, FakeTelegram, FakeTelegramOptions } from './fake-telegram.js';
// A fake Bot API
export { startFakeTelegram } from './fake-telegram.js';
export type { LogLine } from './log-lines.js';
export { captureLogLines } from './log-lines.js';
export type { CollectedMetrics, MetricPoint } from './meter.js';
// Metrics
export { useTestMeter } from './meter.js';
export type { PgSocket } from './pg-socket.js';
export { findPgSocket } from './pg-socket.js';
export type { PgBouncer, StartPgBouncerOptions } from './pgbouncer.js';
// A transaction pooler in front of the test server
export { findPgBouncer, startPgBouncer } from './pgbouncer.js';
export { testPooler } from './pooler.js';
export type { TestDatabase } from './postgres.js';
// Isolation per test file
export { createTestDatabase, useTestDatabase } from './postgres.js';
export type { TcpProxy } from './proxy.js';
// Network partitions
export { startTcpProxy } from './proxy.js';
export type { ConfigSchemaLike, ConfigTableOptions } from './readme-config.js';
// READMEs
export { configTableMismatches } from './readme-config.js';
export type { TestRedis } from './redis.js';
export { createTestRedis, deleteByPrefix, useTestRedis } from './redis.js';
export type { TtlShift } from './redis-clock.js';
// Time for Redis keys
export { advanceRedisTtls } from './redis-clock.js';
export type { ClusterNodeAddress, FailoverResult, RedisCluster, StartRedisClusterOptions } from './redis-cluster.js';
export { connectRedisCluster, startRedisCluster } from './redis-cluster.js';
export type { RedisServer, StartRedisOptions } from './redis-server.js';
// Private servers for chaos tests
export { startRedis } from './redis-server.js';
export { describeDatabase, watchStuckTests } from './stuck.js';
export type { RecordedCall } from './telegram.js';
// In-process Telegram for bot tests
export { createRecordingApi, createUpdateFactory, FAKE_BOT_INFO } from './telegram.js';
// Temporary folders
export { useTempDir } from './temp-dir.js';
// Polling with a deadline
export { until } from './until.js';
export type { Worker, WorkerMessage } from './worker.js';
// Child processes
export { nextMessage, report, startWorker } from './worker.js';
