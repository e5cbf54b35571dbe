/**
 * Docker cannot run where the tests run, so docker-compose.yml and the Dockerfiles are kept correct
 * by construction: these checks fail as soon as the stack drifts from the Compose Specification,
 * from what the services read at start-up, from the database init scripts or from the native
 * Kafka runner.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, requireCompiled } from './support/load-service-modules';

type Json = Record<string, unknown>;

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string; args?: Record<string, string | number> };
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const composeText = read('docker-compose.yml');
const compose = parseYaml(composeText) as ComposeFile;

/** The processes built from this repository, with the config module each reads at start-up. */
const APP_SERVICES = {
  'user-service': { pkg: 'user-service', role: 'user_service', database: 'wallet_users', owner: 'wallet_users_owner' },
  'transaction-service': { pkg: 'transaction-service', role: 'transaction_service', database: 'wallet_transactions', owner: 'wallet_transactions_owner' },
  // The relay applies no migrations: it has no owner login at all.
  'outbox-relay': { pkg: 'outbox-relay', role: 'outbox_relay', database: 'wallet_users', owner: undefined },
} as const;
type AppService = keyof typeof APP_SERVICES;
const APP_SERVICE_NAMES = Object.keys(APP_SERVICES) as AppService[];

/** `${NAME:-default}` as compose interpolates it when NAME is not set (the committed defaults). */
function interpolateDefaults(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => {
    if (fallback === undefined) throw new Error(`\${${name}} has no default: the stack would need a .env file`);
    return fallback;
  });
}

function environmentOf(service: string): Record<string, string> {
  const env = compose.services[service]?.environment ?? {};
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolateDefaults(String(v ?? ''))]));
}

/** The variable names a config module reads: the `envVars` of its defineConfig(...) definition. */
function configKeysOf(pkg: string): string[] {
  const configModule = requireCompiled<Record<string, unknown>>(pkg, 'config');
  const definitions = Object.values(configModule).filter(
    (value): value is { envVars: string[] } =>
      typeof value === 'object' && value !== null && Array.isArray((value as { envVars?: unknown }).envVars),
  );
  assert.equal(definitions.length, 1, `${pkg}/src/config.ts exports one defineConfig(...) definition`);
  const keys = definitions[0]?.envVars ?? [];
  assert.ok(keys.length >= 3, `${pkg}/src/config.ts: found only ${keys.join(', ')}`);
  return keys;
}

/** The installed copy of the Compose Specification's JSON schema (shipped by the dclint package). */
function loadComposeTools(): { schema: Json; DCLinter: DCLinterClass } {
  let packageJson: string;
  try {
    packageJson = require.resolve('dclint/package.json');
  } catch {
    throw new Error(
      'The dclint package is not installed; it ships the Compose Specification JSON schema these checks use. ' +
        'Add it as a root devDependency (npm install --save-dev dclint).',
    );
  }
  const schema = JSON.parse(readFileSync(join(dirname(packageJson), 'schemas', 'compose.schema.json'), 'utf8')) as Json;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DCLinter } = require('dclint') as { DCLinter: DCLinterClass };
  return { schema, DCLinter };
}

type DCLinterClass = new (config: { rules: Record<string, number>; quiet: boolean; debug: boolean; exclude: string[] }) => {
  lintFiles(paths: string[], recursive: boolean): Array<{ errorCount: number; messages: Array<{ rule: string; message: string; type: string }> }>;
};

describe('docker-compose.yml', () => {
  test('follows the Compose Specification', () => {
    const { schema } = loadComposeTools();
    delete schema.$schema; // draft-07 is Ajv's default; the URL is not resolvable offline
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    // Compose's own formats, checked by the compose tool itself, not by the schema.
    for (const format of ['duration', 'ports', 'expose']) ajv.addFormat(format, true);
    const validate = ajv.compile(schema);
    const valid = validate(compose);
    assert.ok(valid, `schema errors:\n${JSON.stringify(validate.errors, null, 2)}`);

    // The schema is strict enough to catch a misspelt key: prove it, so this test can fail.
    const misspelt = structuredClone(compose) as unknown as { services: Record<string, Json> };
    (misspelt.services.postgres as Json).healthchek = {};
    assert.equal(validate(misspelt), false, 'a misspelt key is refused');
  });

  test('passes the compose linter (dclint) without errors', () => {
    const { DCLinter } = loadComposeTools();
    // Services are ordered infrastructure first, then by start order, which reads better than A-Z.
    const linter = new DCLinter({ rules: { 'services-alphabetical-order': 0 }, quiet: false, debug: false, exclude: [] });
    const [result] = linter.lintFiles([join(REPO_ROOT, 'docker-compose.yml')], false);
    assert.ok(result);
    assert.deepEqual(
      result.messages.map((m) => `${m.rule}: ${m.message}`),
      [],
    );
  });

  test('pins every image and builds every service from an existing Dockerfile', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.image !== undefined) {
        assert.match(service.image, /^[a-z0-9./-]+:\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$/, `${name} pins its image version`);
      } else {
        assert.ok(service.build, `${name} has an image or a build`);
        assert.equal(service.build.context, '.', `${name} builds from the workspace root`);
        assert.ok(existsSync(join(REPO_ROOT, service.build.context, service.build.dockerfile)), `${name}: Dockerfile exists`);
        // One parameterised Dockerfile: the service is a build argument, not a file of its own.
        assert.equal(service.build.dockerfile, 'Dockerfile', `${name} builds from the one Dockerfile`);
        assert.equal(service.build.args?.SERVICE, APP_SERVICES[name as AppService]?.pkg, `${name} names its workspace`);
      }
    }
    assert.deepEqual(
      Object.entries(compose.services).filter(([, s]) => s.build).map(([n]) => n).sort(),
      [...APP_SERVICE_NAMES].sort(),
    );
  });

  test('every service has a healthcheck, restarts, and waits for healthy dependencies', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      assert.ok(service.healthcheck?.test.length, `${name} has a healthcheck`);
      assert.equal(service.restart, 'unless-stopped', `${name} restarts`);
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        assert.ok(compose.services[dependency], `${name} depends on the existing service ${dependency}`);
        assert.equal(condition, 'service_healthy', `${name} waits until ${dependency} is healthy`);
      }
    }
    const dependsOn = (name: string) => Object.keys(compose.services[name]?.depends_on ?? {}).sort();
    assert.deepEqual(dependsOn('transaction-service'), ['kafka', 'nats', 'postgres']);
    assert.deepEqual(dependsOn('user-service'), ['nats', 'postgres', 'transaction-service']);
    assert.deepEqual(dependsOn('outbox-relay'), ['kafka', 'postgres', 'user-service']);
  });

  for (const name of APP_SERVICE_NAMES) {
    const { pkg, role, database, owner } = APP_SERVICES[name];

    test(`${name}: sets exactly the variables its config module reads, with valid values`, () => {
      const env = environmentOf(name);
      const keys = configKeysOf(pkg);
      assert.deepEqual(Object.keys(env).sort(), [...keys].sort(), `${pkg}/src/config.ts vs docker-compose.yml`);

      // The service's own loader accepts the values (same joi schema as at start-up).
      const configModule = requireCompiled<Record<string, unknown>>(pkg, 'config');
      const loaders = Object.entries(configModule).filter(([n, f]) => /^load\w*Config$/.test(n) && typeof f === 'function');
      assert.equal(loaders.length, 1, `${pkg}/src/config.ts exports one load...Config function`);
      const load = loaders[0]?.[1] as (env: NodeJS.ProcessEnv) => unknown;
      assert.doesNotThrow(() => load(env));
    });

    test(`${name}: connects as its own role to its own database`, () => {
      const url = new URL(environmentOf(name).DATABASE_URL ?? '');
      assert.equal(url.username, role);
      assert.equal(url.hostname, 'postgres');
      assert.equal(url.pathname, `/${database}`);
      const passwordVariable = `${role.toUpperCase()}_DB_PASSWORD`;
      assert.equal(url.password, environmentOf('postgres')[passwordVariable], `the password is postgres' ${passwordVariable}`);
    });

    test(`${name}: migrates as its database's owner role, or not at all`, () => {
      const migrationUrl = environmentOf(name).MIGRATION_DATABASE_URL;
      if (owner === undefined) {
        assert.equal(migrationUrl, undefined);
        return;
      }
      const url = new URL(migrationUrl ?? '');
      assert.equal(url.username, owner);
      assert.equal(url.hostname, 'postgres');
      assert.equal(url.pathname, `/${database}`);
      const passwordVariable = `${owner.toUpperCase()}_DB_PASSWORD`;
      assert.equal(url.password, environmentOf('postgres')[passwordVariable], `the password is postgres' ${passwordVariable}`);
    });

    test(`${name}: binds every interface inside its container, published on the host's loopback only`, () => {
      const env = environmentOf(name);
      assert.equal(env.HOST, '0.0.0.0');
      for (const mapping of compose.services[name]?.ports ?? []) assert.match(mapping, /^127\.0\.0\.1:/);
      if (env.OPERATOR_PORT !== undefined) {
        assert.equal(env.OPERATOR_HOST, '127.0.0.1', 'the operators\' listener stays on the container\'s loopback');
        assert.ok(!(compose.services[name]?.ports ?? []).some((p) => p.endsWith(`:${env.OPERATOR_PORT}`)), 'and is not published');
      }
    });

    test(`${name}: publishes and health-checks the port it listens on`, () => {
      const port = environmentOf(name).PORT;
      assert.ok(port);
      assert.deepEqual(compose.services[name]?.ports, [`127.0.0.1:${port}:${port}`]);
      assert.ok(compose.services[name]?.healthcheck?.test.join(' ').includes(`http://127.0.0.1:${port}/healthz`));
      assert.equal(String(compose.services[name]?.build?.args?.PORT), port, `${pkg}: the image exposes the port it listens on`);
    });
  }

  test('the services agree on subjects, topics and brokers', () => {
    const tx = environmentOf('transaction-service');
    const users = environmentOf('user-service');
    const relay = environmentOf('outbox-relay');
    assert.equal(users.BALANCE_SUBJECT, tx.BALANCE_SUBJECT);
    assert.equal(users.NATS_URL, 'nats://nats:4222');
    assert.equal(tx.NATS_URL, 'nats://nats:4222');
    assert.equal(relay.KAFKA_TOPIC_USER_CREATED, tx.KAFKA_TOPIC_USER_CREATED);
    assert.equal(relay.KAFKA_TOPIC_PARTITIONS, tx.KAFKA_TOPIC_PARTITIONS);
    const kafka = environmentOf('kafka');
    for (const env of [tx, relay]) {
      assert.ok(kafka.KAFKA_ADVERTISED_LISTENERS?.split(',').some((l) => l.endsWith(`//${env.KAFKA_BROKERS}`)));
    }
  });
});

describe('database init scripts', () => {
  const scripts = readdirSync(join(REPO_ROOT, 'db', 'init'))
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => read(`db/init/${f}`))
    .join('\n');

  test('create an owner role per database and a login role per service, each database owned by its owner role', () => {
    const roles = [...scripts.matchAll(/ALTER ROLE (\w+) LOGIN/g)].map((m) => m[1]).sort();
    assert.deepEqual(roles, ['outbox_relay', 'transaction_service', 'user_service', 'wallet_transactions_owner', 'wallet_users_owner']);
    const databases = Object.fromEntries(
      [...scripts.matchAll(/CREATE DATABASE (\w+) OWNER (\w+)/g)].map((m): [string, string] => [m[1] ?? '', m[2] ?? '']),
    );
    assert.deepEqual(databases, { wallet_users: 'wallet_users_owner', wallet_transactions: 'wallet_transactions_owner' });
    for (const database of Object.keys(databases)) {
      assert.match(scripts, new RegExp(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`));
    }
  });

  test('take every password from a variable the postgres service sets', () => {
    const variables = [...scripts.matchAll(/\\getenv \w+ ([A-Z_]+)/g)].map((m) => m[1] ?? '');
    assert.equal(variables.length, 5);
    const env = environmentOf('postgres');
    for (const variable of variables) assert.ok(env[variable], `postgres sets ${variable}`);
    assert.doesNotMatch(scripts, /PASSWORD\s+'/, 'no literal password');
  });
});

describe('Kafka in compose and the native runner', () => {
  const kafka = environmentOf('kafka');

  test('run the same Kafka version', () => {
    const composeVersion = /^apache\/kafka:(.+)$/.exec(compose.services.kafka?.image ?? '')?.[1];
    const infraVersion = /^KAFKA_VERSION="([^"]+)"/m.exec(read('platform/infra/infra.sh'))?.[1];
    const pomVersion = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(read('platform/infra/kafka/pom.xml'))?.[1];
    assert.ok(composeVersion && infraVersion && pomVersion);
    assert.equal(composeVersion, infraVersion);
    assert.equal(pomVersion, infraVersion);
  });

  test('use the same broker settings', () => {
    // Listener addresses and the data folder differ by design (containers vs the host).
    const networkSpecific = new Set([
      'listeners',
      'advertised.listeners',
      'controller.quorum.voters',
      'listener.security.protocol.map',
      'inter.broker.listener.name',
      'log.dirs',
    ]);
    const properties = read('platform/infra/kafka/server.properties')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split('=', 2) as [string, string]);
    assert.ok(properties.length > 10);
    for (const [key, value] of properties) {
      if (networkSpecific.has(key)) continue;
      const variable = `KAFKA_${key.toUpperCase().replace(/\./g, '_')}`;
      assert.equal(kafka[variable], value, `${variable} (${key} in server.properties)`);
    }
    assert.equal(kafka.KAFKA_CONTROLLER_QUORUM_VOTERS, `${kafka.KAFKA_NODE_ID}@kafka:9093`);
    assert.ok(kafka.KAFKA_CONTROLLER_LISTENER_NAMES && kafka.KAFKA_LISTENERS?.includes(`${kafka.KAFKA_CONTROLLER_LISTENER_NAMES}://:9093`));
    assert.ok(kafka.KAFKA_ADVERTISED_LISTENERS?.includes('//localhost:9092'), 'host clients use localhost:9092');
  });
});

describe('the Dockerfile', () => {
  const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
  const dockerfile = read('Dockerfile');

  test('multi-stage, pinned, non-root, runs the compiled entry point of the workspace it is given', () => {
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.equal(froms.length, 2, 'a build stage and a runtime stage');
    for (const image of froms) assert.match(image ?? '', /^node:20\.\d+\.\d+-bookworm-slim$/);
    // Each stage declares the argument it uses (an ARG before FROM would not reach the stages).
    assert.equal([...dockerfile.matchAll(/^ARG SERVICE$/gm)].length, 2, 'both stages take SERVICE');
    assert.match(dockerfile, /^ARG PORT$/m);
    assert.match(dockerfile, /^RUN test -n "\$SERVICE" \|\|/m, 'a build without SERVICE fails at once');
    assert.match(dockerfile, /^RUN npx tsc -b \$\{SERVICE\}$/m);
    assert.match(dockerfile, /npm ci --omit=dev --workspace \$\{SERVICE\} /);
    assert.match(dockerfile, /^COPY --from=build \/app\/\$\{SERVICE\}\/dist\/src \$\{SERVICE\}\/dist\/src$/m);
    assert.match(dockerfile, /^ENV NODE_ENV=production$/m);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^EXPOSE \$\{PORT\}$/m);
    assert.match(dockerfile, /^WORKDIR \/app\/\$\{SERVICE\}$/m);
    assert.equal(/^CMD \["node", "([^"]+)"\]$/m.exec(dockerfile)?.[1], 'dist/src/entry-points/main.js');
    for (const name of APP_SERVICE_NAMES) {
      const { pkg } = APP_SERVICES[name];
      assert.ok(existsSync(join(REPO_ROOT, pkg, 'src', 'entry-points', 'main.ts')), `${pkg}: the entry point exists`);
      assert.ok(!existsSync(join(REPO_ROOT, pkg, 'Dockerfile')), `${pkg} has no Dockerfile of its own`);
    }
    const lines = dockerfile.split('\n');
    for (const workspace of workspaces) {
      // The lockfile covers the whole workspace: `npm ci` needs every workspace's manifest.
      const manifests = lines.filter((l) => l === `COPY ${workspace}/package.json ${workspace}/`);
      assert.equal(manifests.length, 2, `${workspace}/package.json is copied into both stages`);
      // tsc -b compiles the project references (user-service's tests use transaction-service).
      assert.equal(lines.filter((l) => l === `COPY ${workspace}/ ${workspace}/`).length, 1, `${workspace} sources`);
    }
  });

  test('.dockerignore keeps host builds and dependencies out of the context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['**/node_modules', '**/dist', '.cache', '.run', '.git']) assert.ok(ignored.includes(entry), entry);
  });
});

describe('the native runner and compose set PostgreSQL up the same way', () => {
  const infra = read('platform/infra/infra.sh');
  const runner = read('platform/infra/run.sh');

  test('make infra runs the same db/init scripts with the same password variables and defaults', () => {
    assert.match(infra, /for script in "\$ROOT"\/db\/init\/\*\.sql/);
    const postgres = compose.services.postgres?.environment ?? {};
    const composeDefaults: Record<string, string | undefined> = Object.fromEntries(
      Object.entries(postgres)
        .filter(([name]) => name.endsWith('_DB_PASSWORD'))
        .map(([name, value]): [string, string | undefined] => [name, /:-([^}]*)\}/.exec(String(value))?.[1]]),
    );
    const nativeDefaults: Record<string, string | undefined> = Object.fromEntries(
      [...infra.matchAll(/([A-Z_]+_DB_PASSWORD)="\$\{\1:-([^}]*)\}"/g)].map((m): [string, string | undefined] => [m[1] ?? '', m[2]]),
    );
    assert.equal(Object.keys(composeDefaults).length, 5);
    assert.deepEqual(nativeDefaults, composeDefaults);
  });

  test('run.sh logs each process in with the role compose gives it, and migrates as the same owner', () => {
    for (const name of APP_SERVICE_NAMES) {
      const { role, owner, database } = APP_SERVICES[name];
      const line = new RegExp(`^\\s*${name}\\) echo "([^"]*)"`, 'm').exec(runner)?.[1] ?? '';
      assert.ok(line, `run.sh sets ${name}'s environment`);
      assert.match(line, new RegExp(`DATABASE_URL=\\$\\{\\w+:-postgres://${role}@127\\.0\\.0\\.1:5432/${database}\\}`), `${name} logs in as ${role}`);
      if (owner) assert.match(line, new RegExp(`MIGRATION_DATABASE_URL=\\$\\{\\w+:-postgres://${owner}@127\\.0\\.0\\.1:5432/${database}\\}`));
      else assert.doesNotMatch(line, /MIGRATION_DATABASE_URL/);
    }
  });
});
