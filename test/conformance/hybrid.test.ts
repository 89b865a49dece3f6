/** The Hybrid OP plan: Basic's modules (a code comes back too) for each hybrid response type (fragment responses). */
import { plan } from './support/catalogue.js';
import { codeFlowPlan } from './support/code-flow-plan.js';

const HYBRID = plan('hybrid');
for (const responseType of HYBRID.variants)
  codeFlowPlan(HYBRID, responseType, { authMethod: 'client_secret_basic', responseType, params: {} });
