// Runnable entry: `node dist/simulator/main.js`, configured from the environment.
import pino from 'pino';
import type { Logger } from 'pino';
import { type ConfigPatch, type LineRegistration, type SimulatorOptions, createSimulator } from './server';

export function optionsFromEnv(env: NodeJS.ProcessEnv, logger: Logger): SimulatorOptions {
  const options: SimulatorOptions = {
    port: integerFromEnv(env, 'SIMULATOR_PORT', 4010),
    host: env.SIMULATOR_HOST || '127.0.0.1',
    platformUrl: env.SIMULATOR_PLATFORM_URL || 'http://127.0.0.1:3000',
    heartbeatIntervalMs: integerFromEnv(env, 'SIMULATOR_HEARTBEAT_MS', 30_000),
    eventFlushMs: integerFromEnv(env, 'SIMULATOR_EVENT_FLUSH_MS', 0),
    logger,
  };
  if (env.SIMULATOR_CONTROL_TOKEN) options.controlToken = env.SIMULATOR_CONTROL_TOKEN;
  if (env.SIMULATOR_LINES) {
    const lines = parseJsonEnv(env, 'SIMULATOR_LINES');
    if (!Array.isArray(lines)) throw new Error('SIMULATOR_LINES must be a JSON array of {line_id, phone_number, secret}');
    options.lines = lines as LineRegistration[];
  }
  if (env.SIMULATOR_CONFIG) {
    const patch = parseJsonEnv(env, 'SIMULATOR_CONFIG');
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      throw new Error('SIMULATOR_CONFIG must be a JSON object (same shape as POST /control/config)');
    }
    Object.assign(options, patch as ConfigPatch);
  }
  return options;
}

function integerFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

function parseJsonEnv(env: NodeJS.ProcessEnv, name: string): unknown {
  try {
    return JSON.parse(env[name] ?? '');
  } catch {
    throw new Error(`${name} is not valid JSON`);
  }
}

async function main(): Promise<void> {
  const logger = pino({ name: 'device-simulator', level: process.env.LOG_LEVEL ?? 'info' });
  let simulator;
  try {
    simulator = createSimulator(optionsFromEnv(process.env, logger));
  } catch (err) {
    logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'invalid simulator configuration');
    process.exit(1);
  }
  await simulator.start();

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    simulator
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
