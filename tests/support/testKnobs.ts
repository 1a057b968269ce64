import type { ApolloServerPlugin } from '@apollo/server';
import { setTimeout as sleep } from 'node:timers/promises';
import { PREPARATION_STEPS, type PreparationStep } from '../../src/jobs/prepareTenant.js';
import type { OperationInput } from '../../src/server/pipeline.js';
import type { RuntimeOptions } from '../../src/server/runtime.js';

/**
 * Test-only knobs, read from the environment by the test entry points (tests/support/entry/server.ts
 * and worker.ts: the production entries with these options injected). They let tests drive real child
 * processes into failures and crashes; production code never reads them.
 *
 * - TENANTRY_TEST_FAIL_PREPARATION=<slug-prefix>[:<attempts>][,…]: tenants whose slug starts with the
 *   prefix fail preparation (after their primary domain, before the order counter) on their first
 *   <attempts> attempts in this process; every attempt when <attempts> is omitted.
 * - TENANTRY_TEST_SLOW_PREPARATION=<slug-prefix>:<ms>[,…]: those tenants pause <ms> at the same point,
 *   after the failure check (so a kill -9 lands mid-job, with a step done and one to go).
 * - TENANTRY_TEST_RETRY_LIMIT, TENANTRY_TEST_RETRY_DELAY_SECONDS: retries after the first attempt, and
 *   the first backoff (these apply when this process creates the queue or updates its settings at start).
 * - TENANTRY_TEST_SUPERVISE_SECONDS: how often pg-boss looks for jobs whose worker stopped heartbeating.
 * - TENANTRY_TEST_KILL_AFTER_COMMIT=<operation name>: the server SIGKILLs itself once an operation of
 *   that name has answered with data, before the answer is sent: its transaction has committed.
 */
export function runtimeOptionsFromKnobs(env: NodeJS.ProcessEnv = process.env): RuntimeOptions {
  const extraSteps: PreparationStep[] = [];
  for (const [prefix, attempts] of specs(env.TENANTRY_TEST_FAIL_PREPARATION, 'TENANTRY_TEST_FAIL_PREPARATION')) {
    extraSteps.push(failingStep(prefix, attempts));
  }
  for (const [prefix, ms] of specs(env.TENANTRY_TEST_SLOW_PREPARATION, 'TENANTRY_TEST_SLOW_PREPARATION')) {
    extraSteps.push(slowStep(prefix, ms ?? 1000));
  }
  const provisioning = {
    retryLimit: intKnob(env, 'TENANTRY_TEST_RETRY_LIMIT'),
    retryDelaySeconds: intKnob(env, 'TENANTRY_TEST_RETRY_DELAY_SECONDS'),
    superviseIntervalSeconds: intKnob(env, 'TENANTRY_TEST_SUPERVISE_SECONDS'),
    steps: [PREPARATION_STEPS[0], ...extraSteps, ...PREPARATION_STEPS.slice(1)],
  };
  const killAfter = env.TENANTRY_TEST_KILL_AFTER_COMMIT;
  return {
    provisioning: Object.fromEntries(Object.entries(provisioning).filter(([, v]) => v !== undefined)),
    plugins: killAfter ? [killAfterCommit(killAfter)] : [],
  };
}

/**
 * Kills the process (SIGKILL, nothing runs after it) between an operation's commit and its answer:
 * Apollo calls `willSendResponse` after the pipeline's unit of work has committed, and before the
 * transport writes a byte of the response. The client sees its connection reset.
 */
export function killAfterCommit(operationName: string): ApolloServerPlugin<OperationInput> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, response }) {
          const answered = response.body.kind === 'single' && !!response.body.singleResult.data;
          if (operation?.name?.value === operationName && answered) process.kill(process.pid, 'SIGKILL');
        },
      };
    },
  };
}

/** Fails tenants whose slug starts with `prefix`: their first `attempts` attempts (all if undefined). */
export function failingStep(prefix: string, attempts?: number): PreparationStep & { readonly attemptsBySlug: Map<string, number> } {
  const attemptsBySlug = new Map<string, number>();
  return {
    name: 'test-injected-failure',
    attemptsBySlug,
    async run(_em, tenant) {
      if (!tenant.slug.startsWith(prefix)) return;
      const n = (attemptsBySlug.get(tenant.slug) ?? 0) + 1;
      attemptsBySlug.set(tenant.slug, n);
      if (attempts === undefined || n <= attempts) throw new Error(`injected failure for ${tenant.slug} (attempt ${n})`);
    },
  };
}

/** Pauses `ms` for tenants whose slug starts with `prefix`. */
export function slowStep(prefix: string, ms: number): PreparationStep {
  return {
    name: 'test-pause',
    async run(_em, tenant) {
      if (tenant.slug.startsWith(prefix)) await sleep(ms);
    },
  };
}

/** `<prefix>[:<number>]`, comma-separated. */
function specs(value: string | undefined, name: string): [string, number | undefined][] {
  if (!value) return [];
  return value.split(',').map((spec) => {
    const [prefix, n] = spec.trim().split(':');
    if (!prefix) throw new Error(`${name}: expected <slug-prefix>[:<number>][,…], got "${value}"`);
    if (n === undefined || n === '') return [prefix, undefined];
    const parsed = Number(n);
    if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`${name}: "${n}" is not a non-negative integer`);
    return [prefix, parsed];
  });
}

function intKnob(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: "${value}" is not a non-negative integer`);
  return n;
}
