/* global fetch, URLSearchParams */
// The Makefile's request targets (make create-user, add-money, transfer, hold, capture, void, batch,
// balance, history, balance-at, statement).
// Every value arrives in the environment (WALLET_*), never on a command line, and the body is built
// with JSON.stringify: an email with an apostrophe works, and nothing a variable holds is ever read
// as shell code or as JSON syntax. Prints the JSON answer; exits 1 when the service is unreachable.
const env = (name) => process.env[`WALLET_${name}`] ?? '';
const userUrl = env('USER_URL') || 'http://localhost:3001';
const txUrl = env('TX_URL') || 'http://localhost:3002';
const idempotency = env('KEY') === '' ? {} : { 'Idempotency-Key': env('KEY') };

const requests = {
  'create-user': () => [`${userUrl}/users`, { email: env('EMAIL') }],
  'add-money': () => [`${txUrl}/add-money`, { user_id: env('USER'), amount: env('AMOUNT') }, idempotency],
  transfer: () => [
    `${txUrl}/transfer`,
    { from_user_id: env('FROM'), to_user_id: env('TO'), amount_to_transfer: env('AMOUNT') },
    idempotency,
  ],
  hold: () => [
    `${txUrl}/holds`,
    {
      from_user_id: env('FROM'),
      to_user_id: env('TO'),
      amount: env('AMOUNT'),
      // A JSON integer, as the API wants it; left out when not given (the 7-day default).
      ...(env('EXPIRES_IN') === '' ? {} : { expires_in_seconds: Number(env('EXPIRES_IN')) }),
    },
    idempotency,
  ],
  capture: () => [
    `${txUrl}/holds/${encodeURIComponent(env('HOLD'))}/capture`,
    env('AMOUNT') === '' ? {} : { amount: env('AMOUNT') },
    idempotency,
  ],
  void: () => [`${txUrl}/holds/${encodeURIComponent(env('HOLD'))}/void`, {}, idempotency],
  // An example of POST /batch: credit FROM, move AMOUNT to TO, and one invalid operation (a
  // self-transfer) answered 400 in its place while the others run. KEY, when given, prefixes the keys.
  batch: () => [
    `${txUrl}/batch`,
    {
      operations: [
        { op: 'add-money', ...batchKey('add'), user_id: env('FROM'), amount: env('AMOUNT') },
        { op: 'transfer', ...batchKey('transfer'), from_user_id: env('FROM'), to_user_id: env('TO'), amount_to_transfer: env('AMOUNT') },
        { op: 'transfer', from_user_id: env('TO'), to_user_id: env('TO'), amount_to_transfer: env('AMOUNT') },
      ],
    },
  ],
  balance: () => [`${userUrl}/balance?${query({ email: env('EMAIL'), as_of: env('AS_OF') })}`],
  history: () => [`${txUrl}/users/${encodeURIComponent(env('USER'))}/transactions`],
  'balance-at': () => [`${txUrl}/users/${encodeURIComponent(env('USER'))}/balance?${query({ as_of: env('AS_OF') })}`],
  statement: () => [
    `${txUrl}/users/${encodeURIComponent(env('USER'))}/statement?${query({
      from: env('FROM'),
      to: env('TO'),
      limit: env('LIMIT'),
      cursor: env('CURSOR'),
    })}`,
    undefined,
    env('FORMAT') === 'csv' ? { accept: 'text/csv' } : {},
  ],
};

/** An operation's idempotency_key from KEY (none without it). */
function batchKey(suffix) {
  return env('KEY') === '' ? {} : { idempotency_key: `${env('KEY')}-${suffix}` };
}

/** A query string of the parameters that were given (an empty variable is left out, not sent empty). */
function query(parameters) {
  return new URLSearchParams(Object.entries(parameters).filter(([, value]) => value !== ''));
}

const target = process.argv[2];
const build = requests[target];
if (!build) {
  process.stderr.write(`usage: api-request.mjs ${Object.keys(requests).join('|')}\n`);
  process.exit(2);
}
const [url, body, headers = {}] = build();
try {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: shown as it came
  }
  process.stdout.write(`${shown}\n`);
} catch (error) {
  process.stderr.write(`${target}: ${url} is not reachable (${error.cause?.code ?? error.message}); is the stack up (make up)?\n`);
  process.exit(1);
}
