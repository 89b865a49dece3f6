/** The Basic OP plan (response_type=code, static clients): every module with each client authentication. */
import { plan } from './support/catalogue.js';
import { codeFlowPlan } from './support/code-flow-plan.js';

const BASIC = plan('basic');
codeFlowPlan(BASIC, 'client_secret_basic', { authMethod: 'client_secret_basic', params: {} });
codeFlowPlan(BASIC, 'client_secret_post', { authMethod: 'client_secret_post', params: {} });
