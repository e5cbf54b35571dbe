import Joi from 'joi';
import { LOCAL_KAFKA_BROKERS, LOCAL_NATS_URL } from './local-infrastructure';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses and validates configuration once, at start-up. Every problem is reported at once so an
 * operator fixes them in one go; unknown environment variables are ignored.
 */
export function loadConfig<T>(schema: Joi.ObjectSchema<T>, env: NodeJS.ProcessEnv = process.env): T {
  const result = schema.validate(env, { abortEarly: false, allowUnknown: true, stripUnknown: true, convert: true });
  if (result.error) {
    throw new ConfigError(result.error.details.map((d) => d.message));
  }
  return result.value;
}

/** Common building blocks for service config schemas. */
export const configFields = {
  port: (fallback: number) => Joi.number().integer().min(0).max(65535).default(fallback),
  /**
   * The address a listener binds. The loopback by default: a process exposes itself to a network
   * only when told to (HOST=0.0.0.0 in a container, whose port is then published on purpose).
   */
  host: (fallback = '127.0.0.1') => Joi.string().hostname().default(fallback),
  postgresUrl: (fallback: string) =>
    Joi.string().uri({ scheme: ['postgres', 'postgresql'] }).default(fallback),
  // The project's own nats-server and Kafka (platform/tools/infra/infra.sh), on ports of their own.
  natsUrl: () => Joi.string().default(LOCAL_NATS_URL),
  kafkaBrokers: () =>
    Joi.string()
      .pattern(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/)
      .default(LOCAL_KAFKA_BROKERS)
      .messages({ 'string.pattern.base': '"KAFKA_BROKERS" must be a comma-separated list of host:port' }),
  /** A broker login name: the service's own by default (its permissions are granted to that name). */
  brokerUser: (fallback: string) => Joi.string().pattern(/^[A-Za-z0-9_-]+$/).default(fallback),
  /** A broker password: required, no default (generated into .credentials.env, see README). */
  brokerPassword: () => Joi.string().min(16).pattern(/^\S+$/).required(),
  logLevel: () => Joi.string().valid('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent').default('info'),
  positiveInt: (fallback: number) => Joi.number().integer().min(1).default(fallback),
  /** So a stuck query cannot hold row locks for ever; 0 turns the limit off (PostgreSQL's meaning). */
  statementTimeoutMs: (fallback = 30_000) => Joi.number().integer().min(0).default(fallback),
} as const;

export function splitBrokers(brokers: string): string[] {
  return brokers.split(',').map((b) => b.trim());
}

/** One setting: the environment variable it is read from and the joi schema that validates it. */
export interface ConfigField<V> {
  env: string;
  schema: Joi.Schema<V>;
}

export type ConfigSpec<T> = { [K in keyof T]: ConfigField<T[K]> };

/**
 * The typed settings a spec describes (their types inferred from the schemas), or those of the
 * spec a function returns: `SettingsOf<typeof databaseSettings>`. So a group of settings is
 * written once, as its spec, and not again as an interface.
 */
export type SettingsOf<S> = S extends (...args: never[]) => infer R ? SettingsOf<R> : S extends ConfigSpec<infer T> ? T : never;

export interface ConfigDefinition<T> {
  /** Every environment variable the process reads at start-up (compose is checked against this). */
  envVars: string[];
  /** Needs no `this`: a service may export it as its own `load…Config`. */
  load: (env?: NodeJS.ProcessEnv) => T;
}

/** The typed configuration a definition loads: `ConfigOf<typeof myConfig>`. */
export type ConfigOf<D> = D extends ConfigDefinition<infer T> ? T : never;

/**
 * Declares a process's configuration once: typed field -> environment variable + schema. `load`
 * validates the whole environment at once (see loadConfig) and returns the typed object. The
 * field types can be left to inference from the schemas (see ConfigOf), so each setting is
 * written once, not once in an interface and again here.
 */
export function defineConfig<T>(spec: ConfigSpec<T>): ConfigDefinition<T> {
  const fields = Object.entries<ConfigField<unknown>>(spec);
  const schema = Joi.object<Record<string, unknown>>(
    Object.fromEntries(fields.map(([, field]) => [field.env, field.schema])),
  );
  return {
    envVars: fields.map(([, field]) => field.env),
    load(env: NodeJS.ProcessEnv = process.env): T {
      const raw = loadConfig(schema, env);
      return Object.fromEntries(fields.map(([key, field]) => [key, raw[field.env]])) as T;
    },
  };
}
