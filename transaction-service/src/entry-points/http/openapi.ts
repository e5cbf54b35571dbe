import {
  closedObject,
  commonErrorResponses,
  decimalAmountSchema,
  jsonBodyErrorResponses,
  jsonRequestBody,
  jsonResponse,
  problemResponse,
  requestIdHeader,
  requestIdParameter,
  schemaRef,
  serviceOpenApiDocument,
  type OpenApiDocument,
} from '@wallet/platform';

/**
 * The transaction-service HTTP contract, served at GET /openapi.json and rendered at GET /docs.
 * Tests check real responses against it (assertMatchesOpenApi), so it cannot drift silently.
 */

const UUID = { type: 'string', format: 'uuid' } as const;
const responseHeaders = {
  ...requestIdHeader,
  'Idempotent-Replayed': { $ref: '#/components/headers/IdempotentReplayed' },
} as const;
const idempotencyKeyParameter = { $ref: '#/components/parameters/IdempotencyKey' } as const;
const userIdParameter = { $ref: '#/components/parameters/UserIdPath' } as const;

const moneyErrorResponses = {
  '400': problemResponse(400, 'The request is not valid', [
    'validation_failed',
    'invalid_amount',
    'malformed_json',
    'invalid_idempotency_key',
  ]),
  '404': problemResponse(404, 'The user is not known (yet)', ['user_not_found'], responseHeaders),
  '409': problemResponse(409, 'A request with the same Idempotency-Key is still being processed: retry shortly', [
    'idempotency_request_in_flight',
  ]),
  ...jsonBodyErrorResponses,
  ...commonErrorResponses,
} as const;

export const openApiDocument: OpenApiDocument = serviceOpenApiDocument({
  title: 'transaction-service',
  description:
    'Balances, add-money, transfers and history of the digital wallet. Amounts are decimal strings with exactly ' +
    'two decimals in responses ("12.50"); requests accept such a string or a JSON number. Money operations ' +
    'accept an optional Idempotency-Key header: a retry with the same key and body gets the stored outcome ' +
    'with `Idempotent-Replayed: true` and moves no money twice. Errors are application/problem+json with a ' +
    'stable `code`.',
  localUrl: 'http://localhost:3002',
  tag: { name: 'wallet', description: 'Money operations and queries' },
  paths: {
    '/add-money': {
      post: {
        tags: ['wallet'],
        summary: "Credit a user's wallet",
        operationId: 'addMoney',
        parameters: [idempotencyKeyParameter, requestIdParameter],
        requestBody: jsonRequestBody('AddMoneyRequest'),
        responses: {
          '200': jsonResponse('Credited (or the replay of the credit made with this Idempotency-Key)', 'AddMoneyResponse', responseHeaders),
          ...moneyErrorResponses,
          '422': problemResponse(
            422,
            'The credit cannot be made',
            ['balance_limit_exceeded', 'idempotency_key_reused'],
            responseHeaders,
          ),
        },
      },
    },
    '/transfer': {
      post: {
        tags: ['wallet'],
        summary: 'Move money from one user to another, atomically',
        operationId: 'transfer',
        parameters: [idempotencyKeyParameter, requestIdParameter],
        requestBody: jsonRequestBody('TransferRequest'),
        responses: {
          '201': jsonResponse('Transferred (or the replay of the transfer made with this Idempotency-Key)', 'TransferResponse', responseHeaders),
          ...moneyErrorResponses,
          '400': problemResponse(400, 'The request is not valid', [
            'validation_failed',
            'invalid_amount',
            'self_transfer',
            'malformed_json',
            'invalid_idempotency_key',
          ]),
          '422': problemResponse(422, 'The transfer cannot be made', [
            'insufficient_funds',
            'balance_limit_exceeded',
            'idempotency_key_reused',
          ], responseHeaders),
        },
      },
    },
    '/users/{user_id}/balance': {
      get: {
        tags: ['wallet'],
        summary: "A user's current balance",
        operationId: 'getBalance',
        parameters: [userIdParameter, requestIdParameter],
        responses: {
          '200': jsonResponse('The balance', 'BalanceResponse'),
          '400': problemResponse(400, 'user_id is not a UUID', ['validation_failed']),
          '404': problemResponse(404, 'The user is not known (yet)', ['user_not_found']),
          ...commonErrorResponses,
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
          {
            name: 'limit',
            in: 'query',
            required: false,
            description: 'Page size',
            schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
          },
          {
            name: 'cursor',
            in: 'query',
            required: false,
            description: 'The `next_cursor` of the previous page; omit for the newest page',
            schema: { type: 'string', maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' },
          },
          requestIdParameter,
        ],
        responses: {
          '200': jsonResponse('One page of ledger entries', 'TransactionPage'),
          '400': problemResponse(400, 'user_id, limit or cursor is not valid', ['validation_failed']),
          '404': problemResponse(404, 'The user is not known (yet)', ['user_not_found']),
          ...commonErrorResponses,
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
      Amount: decimalAmountSchema,
      AddMoneyRequest: closedObject({ required: ['user_id', 'amount'], properties: { user_id: UUID, amount: schemaRef('AmountInput') } }),
      AddMoneyResponse: closedObject({
        required: ['user_id', 'transaction_id', 'amount', 'updated_balance'],
        properties: {
          user_id: UUID,
          transaction_id: { ...UUID, description: 'The ledger entry of this credit' },
          amount: schemaRef('Amount'),
          updated_balance: schemaRef('Amount'),
        },
      }),
      TransferRequest: closedObject({
        required: ['from_user_id', 'to_user_id', 'amount_to_transfer'],
        properties: {
          from_user_id: UUID,
          to_user_id: UUID,
          amount_to_transfer: schemaRef('AmountInput'),
        },
      }),
      TransferResponse: closedObject({
        required: ['transfer_id', 'from_user_id', 'to_user_id', 'amount', 'updated_balance', 'created_at'],
        properties: {
          transfer_id: UUID,
          from_user_id: UUID,
          to_user_id: UUID,
          amount: schemaRef('Amount'),
          updated_balance: { ...schemaRef('Amount'), description: "The sender's balance after the transfer" },
          created_at: { type: 'string', format: 'date-time' },
        },
      }),
      BalanceResponse: closedObject({ required: ['user_id', 'balance'], properties: { user_id: UUID, balance: schemaRef('Amount') } }),
      Transaction: closedObject({
        required: [
          'id',
          'user_id',
          'type',
          'kind',
          'amount',
          'balance_after',
          'transfer_id',
          'counterparty_user_id',
          'created_at',
          'sequence',
        ],
        properties: {
          id: UUID,
          user_id: UUID,
          type: { enum: ['credit', 'debit'] },
          kind: { enum: ['add_money', 'transfer'] },
          amount: schemaRef('Amount'),
          balance_after: schemaRef('Amount'),
          transfer_id: { oneOf: [UUID, { type: 'null' }], description: 'Set for transfers' },
          counterparty_user_id: { oneOf: [UUID, { type: 'null' }], description: 'The other user of a transfer' },
          created_at: { type: 'string', format: 'date-time' },
          sequence: {
            type: 'string',
            pattern: '^[1-9][0-9]*$',
            description: "The user's change number (1, 2, 3, ... with no gap), as a decimal string; the same as the money event's sequence",
          },
        },
      }),
      TransactionPage: closedObject({
        required: ['items', 'next_cursor'],
        properties: {
          items: { type: 'array', items: schemaRef('Transaction') },
          next_cursor: {
            oneOf: [{ type: 'string' }, { type: 'null' }],
            description: 'Pass as `cursor` to get the next (older) page; null on the last page',
          },
        },
      }),
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
