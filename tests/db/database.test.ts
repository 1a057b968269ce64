/**
 * What every process does to the database at start, when several start at once (a deployment scaled to
 * several processes): none of them may fail because another one is doing the same.
 */
import { appDbPassword, enableAppRoleLogin } from '../../src/db/database.js';
import { APP_ROLE } from '../../src/db/roles.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { backendsWaitingOnLocks, settledCount } from '../support/locks.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.close());

test("setting the app role's login while another process sets it too succeeds", async () => {
  // The same password every process of the deployment derives: the other test files, which log in as the
  // app role meanwhile, see no change.
  const password = appDbPassword({}, db.ownerUrl);
  const other = await db.owner.connect();
  try {
    await other.query('begin');
    await other.query(`alter role ${APP_ROLE} with login password '${password}'`);
    const enabled = enableAppRoleLogin(db.ownerUrl, password);
    await settledCount(() => backendsWaitingOnLocks(db.owner), 1);
    await other.query('commit');
    expect(await enabled).toBe(db.appUrl);
  } finally {
    other.release();
  }
});
