/**
 * The money events as a downstream consumer sees them (ADR 10), checked against the ledger: read a
 * money-events topic from the beginning as money-events-reader (a `money-events-` group), wait
 * (bounded) until every user's events, deduplicated by id, cover that user's ledger, then check
 * that the events are exactly the ledger, in order, and valid against the published JSON Schemas.
 * Used by `make chaos` (after its drills), the money-events benchmark and integration tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Consumer } from 'kafkajs';
import { MONEY_EVENT_TYPES, type MoneyEvent, type TransactionHistoryItem } from '@wallet/platform';
import { parseCents } from './cents';
import { REPO_ROOT } from './repo-root';
import { testMoneyEventsGroup, testMoneyEventsReader } from './test-resources';
import { fetchBalance, fetchHistory, type BooksCheck } from './transfer-load';

/** One message as it came off the topic, before any parsing: what the checks look at. */
export interface ReceivedMoneyEvent {
  partition: number;
  offset: string;
  key: string | null;
  value: string;
  /** Date.now() when the consumer was handed the message (for lag measurements). */
  receivedAt: number;
}

export interface MoneyEventsConsumer {
  /** Every message received so far, in arrival order. */
  readonly received: ReceivedMoneyEvent[];
  /** Polls `done` every 100 ms until it returns true or `timeoutMs` passes; says which. */
  waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Rejects with a message naming `what` when `promise` takes longer than `ms`: every wait here is bounded. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts consuming `topic` from its oldest message as money-events-reader, with a fresh group of
 * its own (so nothing committed earlier hides a message), and resolves once the group is joined:
 * from then on every message published is received. `onEvent` sees each one as it arrives.
 */
export async function startMoneyEventsConsumer(options: {
  topic: string;
  clientId?: string;
  groupId?: string;
  joinTimeoutMs?: number;
  onEvent?: (event: ReceivedMoneyEvent) => void;
}): Promise<MoneyEventsConsumer> {
  const consumer: Consumer = testMoneyEventsReader(options.clientId ?? 'money-events-check').consumer({
    groupId: options.groupId ?? testMoneyEventsGroup(),
    // The broker answers a fetch as soon as a message is there; this only bounds an empty poll.
    maxWaitTimeInMs: 250,
  });
  const received: ReceivedMoneyEvent[] = [];
  const joinTimeoutMs = options.joinTimeoutMs ?? 60_000;
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  try {
    await withDeadline(consumer.connect(), joinTimeoutMs, 'connecting as money-events-reader');
    await withDeadline(consumer.subscribe({ topic: options.topic, fromBeginning: true }), joinTimeoutMs, `subscribing to ${options.topic}`);
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        const event: ReceivedMoneyEvent = {
          partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? null,
          value: message.value?.toString('utf8') ?? '',
          receivedAt: Date.now(),
        };
        received.push(event);
        options.onEvent?.(event);
        return Promise.resolve();
      },
    });
    if (!(await pollUntil(() => joined, joinTimeoutMs))) throw new Error(`the money-events consumer did not join its group within ${joinTimeoutMs} ms`);
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw error;
  }
  return {
    received,
    waitUntil: pollUntil,
    stop: () => withDeadline(consumer.disconnect(), 30_000, 'disconnecting the money-events consumer').catch(() => undefined),
  };
}

async function pollUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const started = performance.now();
  while (!done()) {
    if (performance.now() - started >= timeoutMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

/** What the events are checked against: each user's ledger (GET /users/:id/transactions) and balance. */
export interface LedgerView {
  /** Each user's history as the API returns it (newest first). */
  histories: Map<string, TransactionHistoryItem[]>;
  balances: Map<string, bigint>;
}

/** Reads every user's whole history and balance through the public API. */
export async function readLedgerView(txUrl: string, userIds: readonly string[]): Promise<LedgerView> {
  const view: LedgerView = { histories: new Map(), balances: new Map() };
  for (const userId of userIds) {
    view.histories.set(userId, await fetchHistory(txUrl, userId));
    view.balances.set(userId, await fetchBalance(txUrl, userId));
  }
  return view;
}

const SCHEMA_DIR = join(REPO_ROOT, 'platform', 'runtime', 'contracts', 'schemas');
let validators: Map<string, ValidateFunction> | undefined;

/** The published JSON Schemas (one per event type, `$id` = the type), compiled once. */
function schemaValidators(): Map<string, ValidateFunction> {
  if (validators) return validators;
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  validators = new Map();
  for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json'))) {
    const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as { $id: string };
    validators.set(schema.$id, ajv.compile(schema));
  }
  return validators;
}

/** Why a message does not validate against its type's schema, or undefined when it does. */
export function schemaProblem(value: unknown): string | undefined {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  const validate = typeof type === 'string' ? schemaValidators().get(type) : undefined;
  if (!validate) return `no schema for type ${JSON.stringify(type)}`;
  if (validate(value)) return undefined;
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join(', ');
}

export interface MoneyEventsVerdict {
  /** Messages received. */
  events: number;
  /** Distinct event ids among them. */
  distinct: number;
  /** Messages that repeated an id already received (at-least-once delivery; consumers drop them). */
  duplicates: number;
  /** Users whose ledger was checked. */
  users: number;
  /** Ledger entries of those users. */
  ledgerEntries: number;
  problems: string[];
}

interface ParsedEvent {
  message: ReceivedMoneyEvent;
  event: MoneyEvent;
}

/** Parses and validates every message; a message that fails is a problem and is left out of the rest. */
function parseAll(received: readonly ReceivedMoneyEvent[], problems: string[]): ParsedEvent[] {
  const parsed: ParsedEvent[] = [];
  for (const message of received) {
    let value: unknown;
    try {
      value = JSON.parse(message.value);
    } catch {
      problems.push(`partition ${message.partition} offset ${message.offset}: not JSON`);
      continue;
    }
    const invalid = schemaProblem(value);
    if (invalid !== undefined) {
      problems.push(`partition ${message.partition} offset ${message.offset}: against the schema: ${invalid}`);
      continue;
    }
    const event = value as MoneyEvent;
    if (message.key !== event.subject) problems.push(`event ${event.id}: message key ${message.key} is not its subject ${event.subject}`);
    parsed.push({ message, event });
  }
  return parsed;
}

/**
 * The first occurrence of each id, in partition order (by partition, then offset): what a consumer
 * dropping repeats by id keeps. A repeat must be byte for byte the first (ADR 10: events are
 * rebuilt from the immutable ledger row).
 */
function firstOccurrences(parsed: readonly ParsedEvent[], problems: string[]): ParsedEvent[] {
  const ordered = [...parsed].sort((a, b) => a.message.partition - b.message.partition || Number(BigInt(a.message.offset) - BigInt(b.message.offset)));
  const first = new Map<string, ParsedEvent>();
  for (const item of ordered) {
    const seen = first.get(item.event.id);
    if (!seen) first.set(item.event.id, item);
    else if (seen.message.value !== item.message.value) problems.push(`event ${item.event.id}: a repeat differs from the first copy`);
  }
  return [...first.values()];
}

/** One user's deduplicated events against their ledger entries and balance. */
function checkUser(userId: string, events: readonly ParsedEvent[], history: readonly TransactionHistoryItem[], balance: bigint): string[] {
  const problems: string[] = [];
  const ledger = new Map(history.map((item) => [item.id, item]));
  const eventIds = new Set(events.map((e) => e.event.id));
  const missing = history.filter((item) => !eventIds.has(item.id)).length;
  // Hold and release events (ADR 12) have no entry in the history, which lists posted money only.
  const unknown = events.filter((e) => 'type' in e.event.data && !ledger.has(e.event.id)).length;
  if (missing > 0 || unknown > 0) problems.push(`${userId}: ${missing} ledger entries without an event, ${unknown} events without a ledger entry`);
  const partitions = new Set(events.map((e) => e.message.partition));
  if (partitions.size > 1) problems.push(`${userId}: events spread over partitions ${[...partitions].join(',')}`);
  // Within one partition, first occurrences in offset order must show sequence growing.
  const inOrder = events.map((e) => BigInt(e.event.sequence));
  const reordered = inOrder.findIndex((s, i) => i > 0 && s <= inOrder[i - 1]!);
  if (reordered > 0) problems.push(`${userId}: sequence ${inOrder[reordered]} arrived after ${inOrder[reordered - 1]} (reordered)`);
  const bySequence = [...events].sort((a, b) => Number(BigInt(a.event.sequence) - BigInt(b.event.sequence)));
  const running = { balance: 0n, available: 0n };
  for (const [index, { event }] of bySequence.entries()) {
    if (event.sequence !== String(index + 1)) {
      problems.push(`${userId}: sequence ${event.sequence} where ${index + 1} was due (gap or repeat)`);
      break;
    }
    const { data } = event;
    stepRunning(running, event);
    if (parseCents(data.balance_after) !== running.balance || parseCents(data.available_balance_after) !== running.available) {
      problems.push(`${userId}: balance_after or available_balance_after chain breaks at sequence ${event.sequence}`);
      break;
    }
    const entry = ledger.get(event.id);
    if (!('type' in data)) continue;
    if (entry && (entry.sequence !== event.sequence || entry.amount !== data.amount || entry.balance_after !== data.balance_after || entry.type !== data.type)) {
      problems.push(`${userId}: event ${event.id} disagrees with its ledger entry`);
      break;
    }
  }
  if (bySequence.length > 0 && running.balance !== balance) problems.push(`${userId}: events chain to ${running.balance} cents, balance is ${balance}`);
  return problems;
}

/**
 * One event's effect: a credit raises both balances; a debit lowers both, except a capture's (it
 * carries hold_id), whose money was already out of the available balance; a hold lowers the
 * available balance only, a release raises it.
 */
function stepRunning(running: { balance: bigint; available: bigint }, event: MoneyEvent): void {
  const { data } = event;
  const amount = parseCents(data.amount);
  if (!('type' in data)) {
    running.available += event.type === MONEY_EVENT_TYPES.hold ? -amount : amount;
    return;
  }
  running.balance += data.type === 'credit' ? amount : -amount;
  if (data.type === 'credit') running.available += amount;
  else if (data.hold_id === undefined) running.available -= amount;
}

/** Checks the received messages against the ledger view (see the module's comment). */
export function verifyMoneyEvents(received: readonly ReceivedMoneyEvent[], ledger: LedgerView): MoneyEventsVerdict {
  const problems: string[] = [];
  const parsed = parseAll(received, problems);
  const first = firstOccurrences(parsed, problems);
  const byUser = new Map<string, ParsedEvent[]>();
  for (const item of first) byUser.set(item.event.subject, [...(byUser.get(item.event.subject) ?? []), item]);
  for (const userId of byUser.keys()) {
    if (!ledger.histories.has(userId)) problems.push(`events for ${userId}, a user not in the ledger checked`);
  }
  let ledgerEntries = 0;
  for (const [userId, history] of ledger.histories) {
    ledgerEntries += history.length;
    problems.push(...checkUser(userId, byUser.get(userId) ?? [], history, ledger.balances.get(userId) ?? 0n));
  }
  return { events: received.length, distinct: first.length, duplicates: parsed.length - first.length, users: ledger.histories.size, ledgerEntries, problems };
}

/** Distinct event ids per subject, kept up to date as messages arrive (to know when to stop waiting). */
function coverageTally(): { add(event: ReceivedMoneyEvent): void; covers(ledger: LedgerView): boolean } {
  const idsByUser = new Map<string, Set<string>>();
  return {
    add(event) {
      try {
        const { id, subject } = JSON.parse(event.value) as { id?: unknown; subject?: unknown };
        if (typeof id !== 'string' || typeof subject !== 'string') return;
        const ids = idsByUser.get(subject) ?? new Set<string>();
        ids.add(id);
        idsByUser.set(subject, ids);
      } catch {
        // not JSON: verifyMoneyEvents reports it
      }
    },
    covers(ledger) {
      return [...ledger.histories].every(([userId, history]) => (idsByUser.get(userId)?.size ?? 0) >= history.length);
    },
  };
}

/**
 * The whole check, for a quiet system (no more money moving): reads the users' ledger through the
 * API, consumes `topic` from the beginning until every user's distinct events reach their ledger
 * count or `timeoutMs` passes, and verifies. One check line, with the counts in its detail.
 */
export async function checkMoneyEvents(options: {
  topic: string;
  txUrl: string;
  userIds: readonly string[];
  timeoutMs: number;
}): Promise<BooksCheck & { verdict: MoneyEventsVerdict }> {
  const ledger = await readLedgerView(options.txUrl, options.userIds);
  const tally = coverageTally();
  const started = performance.now();
  const consumer = await startMoneyEventsConsumer({ topic: options.topic, onEvent: (e) => tally.add(e), joinTimeoutMs: options.timeoutMs });
  let covered: boolean;
  try {
    covered = await consumer.waitUntil(() => tally.covers(ledger), Math.max(0, options.timeoutMs - (performance.now() - started)));
  } finally {
    await consumer.stop();
  }
  const verdict = verifyMoneyEvents(consumer.received, ledger);
  if (!covered) verdict.problems.unshift(`the events did not cover the ledger within ${options.timeoutMs} ms`);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  return {
    name: 'money events: one per ledger entry, per-user sequence 1..N in order, balance_after chains to the balance, valid against the schemas',
    ok: verdict.problems.length === 0,
    detail:
      `${verdict.events} events (${verdict.distinct} distinct, ${verdict.duplicates} duplicates dropped by id) for ` +
      `${verdict.ledgerEntries} ledger entries of ${verdict.users} users, read in ${seconds} s as money-events-reader` +
      (verdict.problems.length === 0 ? '' : `; ${verdict.problems.length} problems: ${verdict.problems.slice(0, 3).join('; ')}`),
    verdict,
  };
}
