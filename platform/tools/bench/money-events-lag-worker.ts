/**
 * The money-events benchmark's downstream consumer, on a worker thread of its own: the load
 * generator's hundreds of clients keep the main thread busy, and a message waiting there for its
 * turn would be counted as event lag that no real consumer (its own process) would see.
 * It reads the topic from the beginning as money-events-reader and keeps, for each message, its id,
 * its `time` (the ledger row's created_at) and when it was received; the main thread takes what
 * was received since it last asked ('drain').
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startMoneyEventsConsumer } from '@wallet/platform/testkit';

export interface LagRecord {
  id: string;
  /** Date.parse(event.time): when transaction-service decided the batch, just before its COMMIT. */
  timeMs: number;
  receivedAt: number;
}

export type LagWorkerRequest = { kind: 'drain' } | { kind: 'stop' };
export type LagWorkerReply = { kind: 'joined' } | { kind: 'drained'; records: LagRecord[] } | { kind: 'stopped' } | { kind: 'failed'; message: string };

async function run(port: NonNullable<typeof parentPort>, topic: string): Promise<void> {
  let pending: LagRecord[] = [];
  const consumer = await startMoneyEventsConsumer({
    topic,
    clientId: 'bench-events-lag',
    onEvent: (message) => {
      // Only what the lag needs, parsed here: the main thread gets small records.
      const event = JSON.parse(message.value) as { id: string; time: string };
      pending.push({ id: event.id, timeMs: Date.parse(event.time), receivedAt: message.receivedAt });
    },
  });
  port.postMessage({ kind: 'joined' } satisfies LagWorkerReply);
  port.on('message', (request: LagWorkerRequest) => {
    if (request.kind === 'drain') {
      const records = pending;
      pending = [];
      port.postMessage({ kind: 'drained', records } satisfies LagWorkerReply);
    } else {
      void consumer.stop().then(() => port.postMessage({ kind: 'stopped' } satisfies LagWorkerReply));
    }
  });
}

if (parentPort) {
  const port = parentPort;
  run(port, (workerData as { topic: string }).topic).catch((error: unknown) =>
    port.postMessage({ kind: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies LagWorkerReply),
  );
}
