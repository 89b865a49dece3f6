/** The Form Post OP plan: the Basic modules with every authorization response delivered by response_mode=form_post. */
import { plan } from './support/catalogue.js';
import { codeFlowPlan } from './support/code-flow-plan.js';

codeFlowPlan(plan('form-post'), 'code, client_secret_basic, form_post', {
  authMethod: 'client_secret_basic',
  params: { response_mode: 'form_post' },
});
