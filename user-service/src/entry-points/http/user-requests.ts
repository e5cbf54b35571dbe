import Joi from 'joi';
import type { Context, Next } from 'koa';
import { AppError, instantSchema, requestBody, validateInput } from '@wallet/platform';
import type { NewUser } from '../../domain/create-user';
import { emailSchema } from '../../domain/email';

/**
 * Everything a request must pass before the domain sees it, checked at the edge by a per-route
 * middleware: the domain then takes typed input (an email already trimmed, normalised and
 * lower-cased by emailSchema), never a raw body.
 */

/** The state a validated route's handler reads its input from. */
export interface ValidatedState<I> {
  input: I;
}

/** A per-route middleware: parses the request (400 on any mistake) into ctx.state.input. */
export function validateRequest<I>(parse: (ctx: Context) => I) {
  return async function validateRequestMiddleware(ctx: Context & { state: ValidatedState<I> }, next: Next): Promise<void> {
    ctx.state.input = parse(ctx);
    await next();
  };
}

const createUserSchema = Joi.object({ email: emailSchema.required() }).required();

/** POST /users: a JSON body `{email}`. */
export function parseCreateUserRequest(ctx: Context): NewUser {
  return validateInput<NewUser>(createUserSchema, requestBody(ctx));
}

const balanceBodySchema = Joi.object({ email: emailSchema }).unknown(false);
const queryEmailSchema = emailSchema.required().label('email');
const asOfSchema = instantSchema().label('as_of');

/** A validated GET /balance: whose, and (optionally) at which past instant, in ms since the epoch. */
export interface BalanceRequestInput {
  email: string;
  asOfMs?: number;
}

/**
 * GET /balance: the email in the query string or in a JSON body (GET with a JSON body is what the
 * brief's clients send; the query form is what caches, curl and browsers can send). Both name the
 * same thing: when both are given they must agree.
 */
export function parseBalanceRequest(ctx: Context): BalanceRequestInput {
  const body = requestBody(ctx) ?? {};
  const fromBody = validateInput<{ email?: string }>(balanceBodySchema, body).email;
  const queryEmail: unknown = ctx.query.email;
  const fromQuery = queryEmail === undefined ? undefined : validateInput<string>(queryEmailSchema, queryEmail);
  if (fromQuery !== undefined && fromBody !== undefined && fromQuery !== fromBody) {
    throw new AppError('validation_failed', 'The query and the body name different emails');
  }
  const email = fromQuery ?? fromBody;
  if (email === undefined) throw new AppError('validation_failed', 'email is required (query or JSON body)');
  const rawAsOf: unknown = ctx.query.as_of;
  if (rawAsOf === undefined) return { email };
  const asOfMs = validateInput<number>(asOfSchema, rawAsOf);
  // The future is no past instant; how recent is too recent is transaction-service's rule (it answers as_of_not_settled).
  if (asOfMs > Date.now()) throw new AppError('validation_failed', 'as_of is in the future');
  return { email, asOfMs };
}
