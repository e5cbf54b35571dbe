import { openapi, TRANSACTION_HISTORY_FIELDS, type ErrorCode, type OpenApiDocument } from '@wallet/platform';

/**
 * The transaction-service HTTP contract, served at GET /openapi.json and rendered at GET /docs.
 * Tests check real responses against it (assertMatchesOpenApi), so it cannot drift silently.
 */

const UUID = { type: 'string', format: 'uuid' } as const;
const DATE_TIME = { type: 'string', format: 'date-time' } as const;
const AMOUNT = openapi.schemaRef('Amount');
const AMOUNT_INPUT = openapi.schemaRef('AmountInput');
const responseHeaders = {
  ...openapi.requestIdHeader,
  'Idempotent-Replayed': { $ref: '#/components/headers/IdempotentReplayed' },
} as const;
const idempotencyKeyParameter = { $ref: '#/components/parameters/IdempotencyKey' } as const;
const userIdParameter = { $ref: '#/components/parameters/UserIdPath' } as const;
/** limit and cursor of the lists paged newest first (history, holds). */
const newestFirstPageParameters = [
  { name: 'limit', in: 'query', required: false, description: 'Page size', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
  {
    name: 'cursor',
    in: 'query',
    required: false,
    description: 'The `next_cursor` of the previous page; omit for the newest page',
    schema: { type: 'string', maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' },
  },
] as const;
const holdIdParameter = { name: 'hold_id', in: 'path', required: true, schema: UUID } as const;

/** One page of a list paged newest first (newestFirstPageParameters): its items and where the next page starts. */
function newestFirstPage(itemSchema: string) {
  return openapi.closedObject({
    required: ['items', 'next_cursor'],
    properties: {
      items: { type: 'array', items: openapi.schemaRef(itemSchema) },
      next_cursor: { oneOf: [{ type: 'string' }, { type: 'null' }], description: 'Pass as `cursor` to get the next (older) page; null on the last page' },
    },
  });
}

const userNotFound = openapi.problemResponse(404, 'The user is not known (yet)', ['user_not_found']);

/** What a capture and a void refuse alike: an unknown hold, one no longer held, a key still in flight. */
const holdResolutionErrors = {
  '404': openapi.problemResponse(404, 'There is no such hold', ['hold_not_found'], responseHeaders),
  '409': openapi.problemResponse(
    409,
    'The hold is no longer held, or a request with this Idempotency-Key is still being processed',
    ['hold_expired', 'hold_already_captured', 'hold_already_voided', 'idempotency_request_in_flight'],
    responseHeaders,
  ),
} as const;

/** An atomic batch not applied (or not known to be): a problem document whose `results` say, per operation, why. */
function withBatchResults(problem: ReturnType<typeof openapi.problemResponse>) {
  const media = problem.content['application/problem+json'];
  const schema = { ...media.schema, properties: { ...media.schema.properties, results: { type: 'array', items: openapi.schemaRef('BatchResult') } } };
  return { ...problem, content: { 'application/problem+json': { ...media, schema } } };
}

const HOLD_FIELDS = ['hold_id', 'from_user_id', 'to_user_id', 'amount', 'status', 'captured_amount', 'transfer_id', 'expires_at', 'created_at'];
const HOLD_PROPERTIES = {
  hold_id: UUID,
  from_user_id: { ...UUID, description: 'Whose money is held' },
  to_user_id: { ...UUID, description: 'Who receives it if captured' },
  amount: AMOUNT,
  status: { enum: ['held', 'captured', 'voided', 'expired'] },
  captured_amount: { oneOf: [AMOUNT, { type: 'null' }], description: 'Set once captured' },
  transfer_id: { oneOf: [UUID, { type: 'null' }], description: 'The transfer a capture made' },
  expires_at: DATE_TIME,
  created_at: DATE_TIME,
};

/** The request bodies of the single money endpoints; a batch operation carries the same fields. */
const ADD_MONEY_BODY = { required: ['user_id', 'amount'], properties: { user_id: UUID, amount: AMOUNT_INPUT } };
const TRANSFER_BODY = {
  required: ['from_user_id', 'to_user_id', 'amount_to_transfer'],
  properties: { from_user_id: UUID, to_user_id: UUID, amount_to_transfer: AMOUNT_INPUT },
};
const HOLD_BODY = {
  required: ['from_user_id', 'to_user_id', 'amount'],
  properties: {
    from_user_id: UUID,
    to_user_id: UUID,
    amount: AMOUNT_INPUT,
    expires_in_seconds: { type: 'integer', minimum: 1, maximum: 2_592_000, default: 604_800 },
  },
};

/** One operation of POST /batch: `op`, an optional `idempotency_key`, and the body of its single endpoint. */
function batchOperation(op: string, body: { required: string[]; properties: Record<string, unknown> }) {
  return openapi.closedObject({
    required: ['op', ...body.required],
    properties: { op: { const: op }, idempotency_key: openapi.schemaRef('BatchIdempotencyKey'), ...body.properties },
  });
}

/** An RFC 3339 instant in the query (at most millisecond precision, with an offset). */
function instantParameter(name: string, description: string) {
  return {
    name,
    in: 'query',
    required: false,
    description: `${description}. RFC 3339 with an offset (2024-05-01T10:00:00Z); at most 3 fractional digits`,
    schema: { type: 'string', format: 'date-time', maxLength: 40 },
  } as const;
}

const asOfParameter = instantParameter('as_of', 'The past instant to answer for; omit for the current balance');

/** Reads at an instant wait for the user's money batches in flight: past AS_OF_LOCK_TIMEOUT_MS, 503. */
const readAtInstantErrorResponses = {
  ...openapi.commonErrorResponses,
  '503': openapi.problemResponse(503, 'The database is unavailable, or a money operation on this user is still committing (Retry-After: 1)', [
    'service_unavailable',
  ]),
} as const;

/** A money request that is not valid; a transfer and a hold also refuse one from and to the same user (self_transfer). */
function invalidMoneyRequest(...alsoCodes: ErrorCode[]) {
  const codes: ErrorCode[] = ['validation_failed', 'invalid_amount', ...alsoCodes, 'malformed_json', 'invalid_idempotency_key'];
  return openapi.problemResponse(400, 'The request is not valid', codes);
}

/** What every money POST can answer besides its outcome and its own 422 (see moneyPost). */
const moneyErrorResponses = {
  '400': invalidMoneyRequest(),
  '404': openapi.problemResponse(404, 'The user is not known (yet)', ['user_not_found'], responseHeaders),
  '409': openapi.problemResponse(409, 'A request with the same Idempotency-Key is still being processed: retry shortly', [
    'idempotency_request_in_flight',
  ]),
  ...openapi.jsonBodyErrorResponses,
  ...openapi.commonErrorResponses,
} as const;

interface MoneyOperation {
  summary: string;
  description?: string;
  operationId: string;
  pathParameters?: readonly object[];
  body: { schema: string; required?: boolean };
  outcome: { status: '200' | '201'; description: string; schema: string };
  /** Responses in place of, or besides, the money errors. */
  errors?: Record<string, unknown>;
  /** Its own 422. */
  refused: { description: string; codes: readonly ErrorCode[] };
}

/**
 * A POST that moves or reserves money: an optional Idempotency-Key (its answers carry
 * Idempotent-Replayed), a JSON body, its outcome, the money errors and its own 422s.
 */
function moneyPost(operation: MoneyOperation) {
  const { outcome, refused } = operation;
  const post = {
    tags: ['wallet'],
    summary: operation.summary,
    ...(operation.description === undefined ? {} : { description: operation.description }),
    operationId: operation.operationId,
    parameters: [...(operation.pathParameters ?? []), idempotencyKeyParameter, openapi.requestIdParameter],
    requestBody: openapi.jsonRequestBody(operation.body.schema, { required: operation.body.required ?? true }),
    responses: {
      [outcome.status]: openapi.jsonResponse(outcome.description, outcome.schema, responseHeaders),
      ...moneyErrorResponses,
      ...operation.errors,
      '422': openapi.problemResponse(422, refused.description, refused.codes, responseHeaders),
    },
  };
  return { post };
}

/** A capture or a void: a money POST on one hold (an optional body) that answers the hold, or why it is not resolved. */
function holdResolutionPost(operation: Pick<MoneyOperation, 'summary' | 'description' | 'operationId' | 'refused'> & { body: string; outcome: string }) {
  return moneyPost({
    ...operation,
    pathParameters: [holdIdParameter],
    body: { schema: operation.body, required: false },
    outcome: { status: '200', description: operation.outcome, schema: 'HoldResult' },
    errors: holdResolutionErrors,
  });
}

export const openApiDocument: OpenApiDocument = openapi.serviceOpenApiDocument({
  title: 'transaction-service',
  description:
    'Balances, add-money, transfers, holds and history of the digital wallet. Amounts are decimal strings with exactly ' +
    'two decimals in responses ("12.50"); requests accept such a string or a JSON number. Money operations ' +
    'accept an optional Idempotency-Key header: a retry with the same key and body gets the stored outcome ' +
    'with `Idempotent-Replayed: true` and moves no money twice. Errors are application/problem+json with a ' +
    'stable `code`.',
  localUrl: 'http://localhost:3002',
  tag: { name: 'wallet', description: 'Money operations and queries' },
  paths: {
    '/add-money': moneyPost({
      summary: "Credit a user's wallet",
      operationId: 'addMoney',
      body: { schema: 'AddMoneyRequest' },
      outcome: { status: '200', description: 'Credited (or the replay of the credit made with this Idempotency-Key)', schema: 'AddMoneyResponse' },
      refused: { description: 'The credit cannot be made', codes: ['balance_limit_exceeded', 'idempotency_key_reused'] },
    }),
    '/transfer': moneyPost({
      summary: 'Move money from one user to another, atomically',
      operationId: 'transfer',
      body: { schema: 'TransferRequest' },
      outcome: { status: '201', description: 'Transferred (or the replay of the transfer made with this Idempotency-Key)', schema: 'TransferResponse' },
      errors: { '400': invalidMoneyRequest('self_transfer') },
      refused: { description: 'The transfer cannot be made', codes: ['insufficient_funds', 'balance_limit_exceeded', 'idempotency_key_reused'] },
    }),
    '/holds': moneyPost({
      summary: "Reserve money of a user for another: capture it later, or release it",
      description:
        "A hold takes `amount` out of the sender's available balance (not its balance) until it is captured, voided " +
        'or expires (`expires_in_seconds`, 1 ... 2,592,000, default 604,800 = 7 days). Checked, like a transfer, ' +
        'against the available balance. Same Idempotency-Key rules as /transfer.',
      operationId: 'placeHold',
      body: { schema: 'HoldRequest' },
      outcome: { status: '201', description: 'Held (or the replay of the hold made with this Idempotency-Key)', schema: 'HoldResult' },
      errors: { '400': invalidMoneyRequest('self_transfer') },
      refused: { description: 'The hold cannot be placed', codes: ['insufficient_funds', 'idempotency_key_reused'] },
    }),
    '/holds/{hold_id}': {
      get: {
        tags: ['wallet'],
        summary: 'A hold',
        description: "`status` is `expired` from `expires_at` on (by the database's clock), even before its money was released.",
        operationId: 'getHold',
        parameters: [holdIdParameter, openapi.requestIdParameter],
        responses: {
          '200': openapi.jsonResponse('The hold', 'Hold'),
          '400': openapi.problemResponse(400, 'hold_id is not valid', ['validation_failed']),
          '404': openapi.problemResponse(404, 'There is no such hold', ['hold_not_found']),
          ...openapi.commonErrorResponses,
        },
      },
    },
    '/holds/{hold_id}/capture': holdResolutionPost({
      summary: 'Move held money to the receiver (all of it, or `amount`), releasing the rest',
      description:
        'A hold is captured at most once: the captured amount moves as a transfer (its two ledger entries, both ' +
        "users' history, `transfer_id`) and any remainder is released. Refused with 409 `hold_expired` when the " +
        "database's clock, in the capturing transaction, is at or past `expires_at`, whether or not the hold was " +
        'released yet.',
      operationId: 'captureHold',
      body: 'CaptureRequest',
      outcome: 'Captured (or the replay of the capture made with this Idempotency-Key)',
      refused: { description: 'The capture cannot be made', codes: ['capture_exceeds_hold', 'balance_limit_exceeded', 'idempotency_key_reused'] },
    }),
    '/holds/{hold_id}/void': holdResolutionPost({
      summary: 'Release a hold without moving money',
      description: 'Voiding a voided hold with a new Idempotency-Key is 409 `hold_already_voided`; with the same key, the stored 200 is replayed.',
      operationId: 'voidHold',
      body: 'VoidRequest',
      outcome: 'Voided (or the replay of the void made with this Idempotency-Key)',
      refused: { description: 'The Idempotency-Key was used with another request', codes: ['idempotency_key_reused'] },
    }),
    '/users/{user_id}/holds': {
      get: {
        tags: ['wallet'],
        summary: "A user's holds as sender, newest first",
        operationId: 'listHolds',
        parameters: [
          userIdParameter,
          {
            name: 'status',
            in: 'query',
            required: false,
            description: 'Only holds in this state (held: active and not expired; expired: past expires_at, released or not)',
            schema: { enum: ['held', 'captured', 'voided', 'expired'] },
          },
          ...newestFirstPageParameters,
          openapi.requestIdParameter,
        ],
        responses: {
          '200': openapi.jsonResponse('One page of holds', 'HoldPage'),
          '400': openapi.problemResponse(400, 'user_id, status, limit or cursor is not valid', ['validation_failed']),
          '404': userNotFound,
          ...openapi.commonErrorResponses,
        },
      },
    },
    '/batch': {
      post: {
        tags: ['wallet'],
        summary: 'Many money operations in one request, each answered as its single endpoint would answer it',
        description:
          'Each operation is `{op, idempotency_key?, ...}` with the body of its single endpoint (`add-money`: POST ' +
          '/add-money, `transfer`: POST /transfer, `hold`: POST /holds; `capture` and `void` also carry `hold_id`). Valid operations are queued in request order, join the same ' +
          'group-commit batches as single requests and are decided in that order; `results[i]` is exactly the status ' +
          'and body the single endpoint would have answered for operation i at that point (a problem document for a ' +
          "refusal), `replayed` its Idempotent-Replayed, `retry_after` its Retry-After (a 503: retry that operation, " +
          'with the same key). An invalid operation gets its own 400 in place; the others still run. ' +
          '`idempotency_key` has the Idempotency-Key header\'s syntax and scope: a key used on POST /transfer and then ' +
          'on a batch `transfer` with the same request replays. At most BATCH_MAX_OPERATIONS (1000) operations and ' +
          'BATCH_BODY_LIMIT_BYTES (1 MiB). `atomic: true`: all operations in one database transaction, applied in order, ' +
          'each seeing the ones before, or none: then the response is 422, a refused operation carries its own error ' +
          'and every other one 422 `linked_operation_failed` (their keys store that outcome; a retry replays it). An atomic ' +
          'batch turned away for a passing reason (queue full, a row held elsewhere) is a 503 with Retry-After, and one ' +
          'whose outcome is not known a 500; both carry `results`: send it again whole, with the same keys (a batch that did commit replays).',
        operationId: 'batch',
        parameters: [openapi.requestIdParameter],
        requestBody: openapi.jsonRequestBody('BatchRequest'),
        responses: {
          '200': openapi.jsonResponse('One result per operation, in request order', 'BatchResponse'),
          '422': withBatchResults(
            openapi.problemResponse(422, 'An atomic batch with a refused operation, none applied: `results` has one entry per operation, saying why', [
              'atomic_batch_refused',
            ]),
          ),
          '400': openapi.problemResponse(400, 'The envelope is not valid: not a JSON object, no or too many operations, an unknown field', [
            'validation_failed',
            'malformed_json',
          ]),
          ...openapi.jsonBodyErrorResponses,
          ...openapi.commonErrorResponses,
          '500': withBatchResults(
            openapi.problemResponse(500, 'An unexpected error; for an atomic batch whose COMMIT could not be settled, the outcome is not known: `results` per operation; send it again with the same keys', [
              'internal_error',
            ]),
          ),
          '503': withBatchResults(
            openapi.problemResponse(503, 'The database is unavailable, or an atomic batch was turned away for a passing reason (queue full, a row held elsewhere; nothing stored): send it again, whole, with the same keys after Retry-After', [
              'service_unavailable',
            ]),
          ),
        },
      },
    },
    '/users/{user_id}/balance': {
      get: {
        tags: ['wallet'],
        summary: "A user's current balance, or its balance at a past instant",
        description:
          'With `as_of`: the posted balance after every change applied at or before that instant (0.00 before the ' +
          "user's first change), and the `sequence` of the last such change (0 when none). Such an answer never " +
          'changes once given (ADR 11): an instant in the future is 400 `validation_failed`, and one less than ' +
          'AS_OF_SETTLE_MS (default 500 ms, at most 5 s) ago is 400 `as_of_not_settled` (Retry-After: 1).',
        operationId: 'getBalance',
        parameters: [userIdParameter, asOfParameter, openapi.requestIdParameter],
        responses: {
          '200': openapi.jsonResponse('The balance (with as_of and sequence when as_of was given)', 'BalanceResponse'),
          '400': openapi.problemResponse(400, 'user_id or as_of is not valid, or as_of is too recent to be answered yet', ['validation_failed', 'as_of_not_settled']),
          '404': userNotFound,
          ...readAtInstantErrorResponses,
        },
      },
    },
    '/users/{user_id}/statement': {
      get: {
        tags: ['wallet'],
        summary: "A user's statement of a period [from, to): opening and closing balances, totals, entries oldest first",
        description:
          'The entries with from <= created_at < to, in applied order (oldest first), keyset-paginated; every page ' +
          'carries the whole period\'s figures, and opening_balance + total_credits - total_debits = closing_balance. ' +
          'With `Accept: text/csv` the whole period is streamed as CSV instead (a header row, then one row per entry ' +
          'with the columns of a Transaction; amounts as decimal strings; a null is an empty field), for any period ' +
          'length. Like a balance at an instant, a statement never changes once given (ADR 11): `to` must be settled.',
        operationId: 'getStatement',
        parameters: [
          userIdParameter,
          instantParameter('from', 'Start of the period (included); required unless a cursor is given'),
          instantParameter('to', 'End of the period (excluded); defaults to now (the answer then waits until now has settled)'),
          {
            name: 'limit',
            in: 'query',
            required: false,
            description: 'Entries per page (JSON only)',
            schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
          {
            name: 'cursor',
            in: 'query',
            required: false,
            description: 'The `next_cursor` of the previous page (JSON only); it carries the period, so from and to may be left out',
            schema: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' },
          },
          openapi.requestIdParameter,
        ],
        responses: {
          '200': {
            description: 'One page of the statement (JSON), or the whole period (CSV)',
            headers: openapi.requestIdHeader,
            content: {
              'application/json': { schema: openapi.schemaRef('Statement') },
              'text/csv': { schema: { type: 'string', description: TRANSACTION_HISTORY_FIELDS.join(',') } },
            },
          },
          '400': openapi.problemResponse(400, 'user_id, from, to, limit or cursor is not valid, from is after to, or to is too recent to be answered yet', [
            'validation_failed',
            'as_of_not_settled',
          ]),
          '404': userNotFound,
          '406': openapi.problemResponse(406, 'Accept names neither application/json nor text/csv', ['not_acceptable']),
          ...readAtInstantErrorResponses,
        },
      },
    },
    '/users/{user_id}/transactions': {
      get: {
        tags: ['wallet'],
        summary: "A user's ledger, newest first, one page at a time",
        operationId: 'listTransactions',
        parameters: [
          userIdParameter,
          ...newestFirstPageParameters,
          openapi.requestIdParameter,
        ],
        responses: {
          '200': openapi.jsonResponse('One page of ledger entries', 'TransactionPage'),
          '400': openapi.problemResponse(400, 'user_id, limit or cursor is not valid', ['validation_failed']),
          '404': userNotFound,
          ...openapi.commonErrorResponses,
        },
      },
    },
  },
  components: {
    schemas: {
      AmountInput: {
        description:
          'A positive amount with at most two decimals: a string ("12.50", "7") or a JSON number (12.5). ' +
          'No sign, exponent or leading zeros; at most the configured maximum (MAX_AMOUNT).',
        oneOf: [
          { type: 'string', pattern: '^(0|[1-9]\\d{0,14})(\\.\\d{1,2})?$', examples: ['12.50'] },
          { type: 'number', exclusiveMinimum: 0, examples: [12.5] },
        ],
      },
      Amount: openapi.decimalAmountSchema,
      AddMoneyRequest: openapi.closedObject(ADD_MONEY_BODY),
      AddMoneyResponse: openapi.closedObject({
        required: ['user_id', 'transaction_id', 'amount', 'updated_balance', 'available_balance'],
        properties: {
          user_id: UUID,
          transaction_id: { ...UUID, description: 'The ledger entry of this credit' },
          amount: AMOUNT,
          updated_balance: AMOUNT,
          available_balance: { ...AMOUNT, description: "The user's available balance after the credit" },
        },
      }),
      TransferRequest: openapi.closedObject(TRANSFER_BODY),
      TransferResponse: openapi.closedObject({
        required: ['transfer_id', 'from_user_id', 'to_user_id', 'amount', 'updated_balance', 'available_balance', 'created_at'],
        properties: {
          transfer_id: UUID,
          from_user_id: UUID,
          to_user_id: UUID,
          amount: AMOUNT,
          updated_balance: { ...AMOUNT, description: "The sender's balance after the transfer" },
          available_balance: { ...AMOUNT, description: "The sender's available balance after the transfer" },
          created_at: DATE_TIME,
        },
      }),
      BatchRequest: openapi.closedObject({
        required: ['operations'],
        properties: {
          atomic: { type: 'boolean', default: false, description: 'All or none, in one database transaction' },
          operations: { type: 'array', minItems: 1, items: openapi.schemaRef('BatchOperation'), description: 'At most BATCH_MAX_OPERATIONS (1000)' },
        },
      }),
      BatchOperation: {
        description: 'One operation: `op`, an optional `idempotency_key`, and the body of its single endpoint',
        oneOf: [
          openapi.schemaRef('BatchAddMoneyOperation'),
          openapi.schemaRef('BatchTransferOperation'),
          openapi.schemaRef('BatchHoldOperation'),
          openapi.schemaRef('BatchCaptureOperation'),
          openapi.schemaRef('BatchVoidOperation'),
        ],
      },
      BatchHoldOperation: batchOperation('hold', HOLD_BODY),
      BatchCaptureOperation: batchOperation('capture', { required: ['hold_id'], properties: { hold_id: UUID, amount: AMOUNT_INPUT } }),
      BatchVoidOperation: batchOperation('void', { required: ['hold_id'], properties: { hold_id: UUID } }),
      BatchAddMoneyOperation: batchOperation('add-money', ADD_MONEY_BODY),
      BatchTransferOperation: batchOperation('transfer', TRANSFER_BODY),
      BatchIdempotencyKey: {
        type: 'string',
        minLength: 1,
        maxLength: 257,
        description: 'The Idempotency-Key header of the single endpoint: same syntax, same meaning, same scope',
      },
      BatchResponse: openapi.closedObject({
        required: ['results'],
        properties: { results: { type: 'array', items: openapi.schemaRef('BatchResult'), description: 'In request order' } },
      }),
      BatchResult: openapi.closedObject({
        required: ['status', 'body', 'replayed'],
        properties: {
          status: { type: 'integer', minimum: 200, maximum: 599, description: "The single endpoint's status" },
          body: {
            description: "The single endpoint's body: its response, or a problem document",
            oneOf: [openapi.schemaRef('AddMoneyResponse'), openapi.schemaRef('TransferResponse'), openapi.schemaRef('HoldResult'), openapi.schemaRef('Problem')],
          },
          replayed: { type: 'boolean', description: "The single endpoint's Idempotent-Replayed: a stored outcome of the same key" },
          retry_after: { type: 'integer', minimum: 0, description: "The single endpoint's Retry-After, in seconds (a 503: retry this operation with its key)" },
        },
      }),
      BalanceResponse: openapi.closedObject({
        required: ['user_id', 'balance', 'available_balance'],
        properties: {
          user_id: UUID,
          balance: { ...AMOUNT, description: 'The posted balance: the sum of the ledger' },
          available_balance: {
            ...AMOUNT,
            description: "The balance less the user's active (held, unexpired) holds as sender: what transfers and holds may spend",
          },
          as_of: { type: 'string', format: 'date-time', description: 'The instant asked about (UTC, milliseconds); only with as_of' },
          sequence: {
            type: 'string',
            pattern: '^(0|[1-9][0-9]*)$',
            description: 'The sequence of the last change counted (0: none); only with as_of',
          },
        },
      }),
      HoldRequest: openapi.closedObject(HOLD_BODY),
      CaptureRequest: openapi.closedObject({
        required: [],
        properties: { amount: { ...AMOUNT_INPUT, description: 'At most the held amount; default: all of it' } },
      }),
      VoidRequest: openapi.closedObject({ required: [], properties: {}, description: 'Empty: `{}` (like every POST, sent as application/json)' }),
      Hold: openapi.closedObject({ required: HOLD_FIELDS, properties: HOLD_PROPERTIES }),
      HoldResult: openapi.closedObject({
        required: [...HOLD_FIELDS, 'available_balance'],
        properties: {
          ...HOLD_PROPERTIES,
          available_balance: { ...AMOUNT, description: "The sender's available balance after this operation" },
        },
      }),
      HoldPage: newestFirstPage('Hold'),
      Statement: openapi.closedObject({
        required: [
          'user_id',
          'from',
          'to',
          'opening_balance',
          'closing_balance',
          'total_credits',
          'total_debits',
          'entry_count',
          'items',
          'next_cursor',
        ],
        properties: {
          user_id: UUID,
          from: DATE_TIME,
          to: { type: 'string', format: 'date-time', description: 'The end of the period (excluded); now when it was left out' },
          opening_balance: { ...AMOUNT, description: 'The balance at the start of the period' },
          closing_balance: { ...AMOUNT, description: 'The balance at the end of the period' },
          total_credits: AMOUNT,
          total_debits: AMOUNT,
          entry_count: { type: 'integer', minimum: 0, description: 'Entries in the whole period (every page)' },
          items: { type: 'array', items: openapi.schemaRef('Transaction'), description: 'This page of the entries, oldest first' },
          next_cursor: {
            oneOf: [{ type: 'string' }, { type: 'null' }],
            description: 'Pass as `cursor` to get the next (later) page of the same period; null on the last page',
          },
        },
      }),
      Transaction: openapi.closedObject({
        // The fields of a history item, in its order: a statement's CSV columns are the same list.
        required: TRANSACTION_HISTORY_FIELDS,
        properties: {
          id: UUID,
          user_id: UUID,
          type: { enum: ['credit', 'debit'] },
          kind: { enum: ['add_money', 'transfer'] },
          amount: AMOUNT,
          balance_after: AMOUNT,
          transfer_id: { oneOf: [UUID, { type: 'null' }], description: 'Set for transfers' },
          counterparty_user_id: { oneOf: [UUID, { type: 'null' }], description: 'The other user of a transfer' },
          created_at: DATE_TIME,
          sequence: {
            type: 'string',
            pattern: '^[1-9][0-9]*$',
            description: "The user's change number (1, 2, 3, ... with no gap), as a decimal string; the same as the money event's sequence",
          },
        },
      }),
      TransactionPage: newestFirstPage('Transaction'),
    },
    headers: {
      IdempotentReplayed: {
        description: 'Present, with the value true, when this response is the stored outcome of an earlier request with the same Idempotency-Key',
        schema: { type: 'string', enum: ['true'] },
      },
    },
    parameters: {
      IdempotencyKey: {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'Makes retries safe: 1-255 printable characters, as a token (abc-123) or a quoted string ("abc 123"). ' +
          'The same key with the same body replays the stored outcome; with a different body it is refused (422). ' +
          'Keys are kept at least 24 hours.',
        schema: { type: 'string', minLength: 1, maxLength: 257 },
      },
      UserIdPath: { name: 'user_id', in: 'path', required: true, schema: UUID },
    },
  },
});
