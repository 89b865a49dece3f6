/** The Implicit OP plan: Basic's modules that apply without a code, for each implicit response type (fragment responses). */
import { plan } from './support/catalogue.js';
import { codeFlowPlan } from './support/code-flow-plan.js';

const IMPLICIT = plan('implicit');
for (const responseType of IMPLICIT.variants)
  codeFlowPlan(IMPLICIT, responseType, { authMethod: 'client_secret_basic', responseType, params: {} });
