import Joi from 'joi';
import {
  BALANCE_QUEUE_GROUP,
  promClient,
  uuidSchema,
  type BalanceReply,
  type Logger,
  type MetricsRegistry,
  type NatsConnection,
} from '@wallet/platform';
import type { Msg } from 'nats';
import type { WalletQueries } from '../../domain/wallet-queries';

const requestSchema = Joi.object<{ user_id: string }>({
  user_id: uuidSchema().required(),
}).unknown(true);

/**
 * Answers balance requests from user-service. Subscribed in a queue group, so each request is
 * answered by exactly one of however many transaction-service instances run.
 */
export function answerBalanceRequests(options: {
  nats: NatsConnection;
  subject: string;
  wallet: WalletQueries;
  logger: Logger;
  metrics: MetricsRegistry;
}): { stop(): Promise<void> } {
  const { nats, wallet, logger } = options;
  const answered = new promClient.Counter({
    name: 'nats_balance_requests_answered_total',
    help: 'Balance requests answered over NATS, by result',
    labelNames: ['result'] as const,
    registers: [options.metrics],
  });
  const inFlight = new Set<Promise<void>>();

  const answer = async (msg: Msg): Promise<void> => {
    let reply: BalanceReply;
    try {
      const parsed = requestSchema.validate(JSON.parse(Buffer.from(msg.data).toString('utf8')));
      if (parsed.error) {
        reply = { ok: false, error: 'invalid_request' };
      } else {
        const balance = await wallet.findBalance(parsed.value.user_id);
        reply =
          balance === undefined
            ? { ok: false, error: 'user_not_found' }
            : { ok: true, user_id: parsed.value.user_id, balance };
      }
    } catch (error) {
      if (error instanceof SyntaxError) {
        reply = { ok: false, error: 'invalid_request' };
      } else {
        logger.error({ err: error }, 'balance request failed');
        reply = { ok: false, error: 'internal_error' };
      }
    }
    answered.inc({ result: reply.ok ? 'ok' : reply.error });
    if (msg.reply) msg.respond(Buffer.from(JSON.stringify(reply)));
  };

  const subscription = nats.subscribe(options.subject, {
    queue: BALANCE_QUEUE_GROUP,
    callback: (error, msg) => {
      if (error) {
        logger.warn({ err: error }, 'balance subscription error');
        return;
      }
      const work = answer(msg).finally(() => inFlight.delete(work));
      inFlight.add(work);
    },
  });

  return {
    stop: async () => {
      await subscription.drain();
      await Promise.allSettled([...inFlight]);
    },
  };
}
