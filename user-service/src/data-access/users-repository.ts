import type { Knex } from '@wallet/platform';

export interface UserRow {
  user_id: string;
  email: string;
  created_at: Date;
}

/** Unique index that makes a second user with the same (normalised) email fail with 23505. */
export const EMAIL_UNIQUE_CONSTRAINT = 'users_email_unique';

export async function insertUser(trx: Knex.Transaction, user: UserRow): Promise<void> {
  await trx('users').insert({ user_id: user.user_id, email: user.email, created_at: user.created_at });
}

export async function findUserByEmail(db: Knex, email: string): Promise<UserRow | undefined> {
  return db<UserRow>('users').select('user_id', 'email', 'created_at').where({ email }).first();
}
