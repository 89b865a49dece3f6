/**
 * The Config OP plan: the discovery document the suite verifies before anything else
 * (oidcc-discovery-endpoint-verification), and the JWKS it points at.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { STORES } from '../support/stores.js';
import { plan } from './support/catalogue.js';
import { verifyDiscovery } from './support/discovery-checks.js';
import { ConformanceOp } from './support/harness.js';
import { suiteTitle } from './support/report.js';

const CONFIG = plan('config');

describe.each(STORES)(suiteTitle(CONFIG, 'discovery'), (store) => {
  let op: ConformanceOp;
  beforeAll(async () => {
    // The suite requires https endpoints; the test server's issuer is http on loopback, so the
    // scheme is checked against the issuer's own (an https issuer yields https endpoints).
    op = await ConformanceOp.start(store);
  });
  afterAll(() => op?.close());

  it('oidcc-discovery-endpoint-verification: the required values are present and consistent', async () => {
    await verifyDiscovery(op);
  });
});
