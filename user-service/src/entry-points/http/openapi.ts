import { openapi, type OpenApiDocument } from '@wallet/platform';

/**
 * The user-service HTTP contract, served at GET /openapi.json and rendered at GET /docs.
 * Tests check real responses against it (assertMatchesOpenApi), so it cannot drift silently.
 */

const EMAIL = {
  type: 'string',
  format: 'email',
  maxLength: 254,
  description: 'Trimmed and lower-cased before use: " Alice@X.io " and "alice@x.io" are the same user',
  examples: ['alice@example.com'],
} as const;

export const openApiDocument: OpenApiDocument = openapi.serviceOpenApiDocument({
  title: 'user-service',
  description:
    'Users of the digital wallet. Creating a user also publishes a `user-created` event (through a ' +
    'transactional outbox and Kafka) that opens the user\'s wallet in transaction-service. The balance ' +
    'is asked of transaction-service over NATS; user-service stores none. Errors are ' +
    'application/problem+json with a stable `code`.',
  localUrl: 'http://localhost:3001',
  tag: { name: 'users', description: 'Users and their balance' },
  paths: {
    '/users': {
      post: {
        tags: ['users'],
        summary: 'Create a user',
        operationId: 'createUser',
        parameters: [openapi.requestIdParameter],
        requestBody: openapi.jsonRequestBody('CreateUserRequest'),
        responses: {
          '201': openapi.jsonResponse('Created; the wallet opens in transaction-service moments later', 'User'),
          '400': openapi.problemResponse(400, 'The email is missing or not valid, or the body is not JSON', [
            'validation_failed',
            'malformed_json',
          ]),
          '409': openapi.problemResponse(409, 'A user with this email already exists', ['duplicate_email']),
          ...openapi.jsonBodyErrorResponses,
          ...openapi.commonErrorResponses,
        },
      },
    },
    '/balance': {
      get: {
        tags: ['users'],
        summary: "A user's balance, by email",
        description:
          'The email is given as the `email` query parameter or in a JSON body `{"email": ...}` (when both ' +
          'are given they must name the same user). A user whose wallet has not opened yet has a balance of 0.00. ' +
          'With `as_of` (query only): the balance at that past instant, by the rules of transaction-service\'s ' +
          'GET /users/{user_id}/balance?as_of= (an answer never changes once given; an instant in the future is 400 ' +
          '`validation_failed`, one too recent to be settled 400 `as_of_not_settled`).',
        operationId: 'getBalance',
        parameters: [
          { name: 'email', in: 'query', required: false, schema: EMAIL },
          {
            name: 'as_of',
            in: 'query',
            required: false,
            description: 'A past instant, RFC 3339 with an offset (2024-05-01T10:00:00Z), at most 3 fractional digits',
            schema: { type: 'string', format: 'date-time', maxLength: 40 },
          },
          openapi.requestIdParameter,
        ],
        requestBody: openapi.jsonRequestBody('BalanceRequest', { required: false, description: 'Alternative to the query parameter' }),
        responses: {
          '200': openapi.jsonResponse('The balance, as transaction-service knows it', 'Balance'),
          '400': openapi.problemResponse(400, 'The email is missing or not valid, as_of is not valid or in the future, or too recent to be answered yet', [
            'validation_failed',
            'malformed_json',
            'as_of_not_settled',
          ]),
          '404': openapi.problemResponse(404, 'No user has this email', ['user_not_found']),
          '504': openapi.problemResponse(504, 'transaction-service did not answer in time', ['balance_timeout']),
          ...openapi.commonErrorResponses,
          '503': openapi.problemResponse(
            503,
            'transaction-service cannot answer (none running, the connection is down, or it is busy: at its budget of balance requests), too many balance requests are waiting here, or the database is unavailable; Retry-After: 1',
            ['balance_unavailable', 'service_unavailable'],
          ),
        },
      },
    },
  },
  components: {
    schemas: {
      CreateUserRequest: openapi.closedObject({ required: ['email'], properties: { email: EMAIL } }),
      User: openapi.closedObject({
        required: ['user_id', 'email', 'created_at'],
        properties: {
          user_id: { type: 'string', format: 'uuid', description: 'A UUIDv7 (time-ordered)' },
          email: { type: 'string', format: 'email' },
          created_at: { type: 'string', format: 'date-time' },
        },
      }),
      BalanceRequest: openapi.closedObject({ properties: { email: EMAIL } }),
      Balance: openapi.closedObject({
        required: ['email', 'balance', 'available_balance'],
        properties: {
          email: { type: 'string', format: 'email' },
          balance: { ...openapi.decimalAmountSchema, description: 'The posted balance: the sum of the ledger' },
          available_balance: { ...openapi.decimalAmountSchema, description: "The balance less the user's active holds as sender (transaction-service, ADR 12)" },
          as_of: { type: 'string', format: 'date-time', description: 'The instant asked about (UTC, milliseconds); only with as_of' },
        },
      }),
    },
  },
});
