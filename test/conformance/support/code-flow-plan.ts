/** Runs the front-channel modules (code-flow-modules.ts) a plan lists, under one variant, on every store. */

import type { JsonWebKey } from '@ory/hydra-client';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { TestClock } from '../../support/clock.js';
import { STORES } from '../../support/stores.js';
import type { Plan } from './catalogue.js';
import { CODE_FLOW_MODULES, type CodeFlowContext, type CodeFlowVariant, REQUEST_OBJECT_PATH } from './code-flow-modules.js';
import { ConformanceOp, rsaKey } from './harness.js';
import { suiteTitle } from './report.js';

export function codeFlowPlan(plan: Plan, variantName: string, variant: CodeFlowVariant): void {
  describe.each(STORES)(suiteTitle(plan, variantName), (store) => {
    const clock = new TestClock();
    let ctx: CodeFlowContext;
    beforeAll(async () => {
      const op = await ConformanceOp.start(store, {}, { clock });
      // The tester registers the client: unsigned request objects (by value, or from the suite's
      // request_uri) allowed, as the modules need; Hydra wants a client JWKS for any request object.
      const requestUri = await op.serve(REQUEST_OBJECT_PATH, '', 'application/oauth-authz-req+jwt');
      const responseType = variant.responseType ?? 'code';
      const metadata = {
        response_types: [responseType],
        grant_types:
          responseType === 'code' ? ['authorization_code', 'refresh_token'] : ['authorization_code', 'implicit', 'refresh_token'],
        request_object_signing_alg: 'none',
        request_uris: [requestUri],
        jwks: { keys: [(await rsaKey()).publicJwk as JsonWebKey] },
      };
      ctx = {
        op,
        clock,
        variant,
        client: await op.staticClient(variant.authMethod, metadata),
        other: await op.staticClient(variant.authMethod, metadata),
        postClient: await op.staticClient('client_secret_post', metadata),
      };
    });
    afterAll(() => ctx?.op.close());
    const modules = new Set(plan.modules.map((module) => module.id));
    for (const module of CODE_FLOW_MODULES.filter((entry) => modules.has(entry.id))) {
      it(`${module.id}: ${module.title}`, (test) => module.run(ctx, test));
    }
  });
}
