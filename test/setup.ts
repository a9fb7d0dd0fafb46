import { startHarness, stopHarness } from './helpers/harness';

/** Root hooks: one database and one queue prefix per test run, dropped at the end. */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(60000);
    await startHarness();
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60000);
    await stopHarness();
  },
};
