import { v7 as uuidv7 } from 'uuid';
import {
  AppError,
  maskEmail,
  runInTransaction,
  errorField,
  sqlState,
  USER_CREATED_EVENT_TYPE,
  type Knex,
  type Logger,
  type UserCreatedPayload,
} from '@wallet/platform';
import { insertOutboxEvent } from '../data-access/outbox-repository';
import { EMAIL_UNIQUE_CONSTRAINT, insertUser } from '../data-access/users-repository';

export interface CreatedUser {
  user_id: string;
  email: string;
  /** ISO-8601, UTC. */
  created_at: string;
}

export interface CreateUserDeps {
  knex: Knex;
  logger: Logger;
  onUserCreated?: () => void;
}

/** A user to create: the email already valid and canonical (see emailSchema, checked at the edge). */
export interface NewUser {
  email: string;
}

/**
 * Creates the user and, in the same transaction, the `user-created` outbox event: either both are
 * committed or neither is, so transaction-service learns of exactly the users that exist.
 */
export async function createUser(deps: CreateUserDeps, { email }: NewUser): Promise<CreatedUser> {
  // v7 ids are time-ordered: inserts land at the right edge of the primary-key index.
  const user = { user_id: uuidv7(), email, created_at: new Date() };
  const payload: UserCreatedPayload = {
    user_id: user.user_id,
    email: user.email,
    created_at: user.created_at.toISOString(),
  };
  try {
    await runInTransaction(deps.knex, async (trx) => {
      await insertUser(trx, user);
      await insertOutboxEvent(trx, {
        event_id: uuidv7(),
        event_type: USER_CREATED_EVENT_TYPE,
        aggregate_id: user.user_id,
        payload: { ...payload },
        created_at: user.created_at,
      });
    });
  } catch (error) {
    // The unique index, not a prior SELECT, decides: two concurrent requests for one email both
    // pass any check, and the second insert waits for the first and then fails with 23505.
    if (sqlState(error) === '23505' && errorField(error, 'constraint') === EMAIL_UNIQUE_CONSTRAINT) {
      throw new AppError('duplicate_email', 'A user with this email already exists');
    }
    throw error;
  }
  deps.onUserCreated?.();
  deps.logger.info({ user_id: user.user_id, email: maskEmail(user.email) }, 'user created');
  return payload;
}
