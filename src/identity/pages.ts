import { describeScope } from './claims.js';
import { type Html, html, httpUrl, type Page } from './html.js';
import type { User } from './user-store.js';

/**
 * The identity UI's pages. Each works without JavaScript and in tab order: fields in reading order,
 * the primary action first (so Enter submits it), every field with its label, errors announced.
 */

const hidden = (name: string, value: string) => html`<input type="hidden" name="${name}" value="${value}">`;

export interface LoginView {
  challenge: string;
  csrfToken: string;
  clientName: string;
  username: string;
  /** The sign-in connects a device (RFC 8628), not this browser, to the application. */
  device?: boolean;
  error?: string;
}

export function loginPage(view: LoginView): Page {
  const invalid = view.error !== undefined;
  return {
    title: 'Sign in',
    status: invalid ? 422 : 200,
    body: html`<div class="card">
<h1>Sign in</h1>
<p class="lede">${view.device ? html`to connect <strong>${view.clientName}</strong> on your device` : html`to continue to <strong>${view.clientName}</strong>`}</p>
${invalid ? html`<p class="alert" role="alert" id="login-error">${view.error}</p>` : ''}
<form method="post" action="login">
${hidden('login_challenge', view.challenge)}
${hidden('csrf_token', view.csrfToken)}
<div class="field">
<label for="username">Username or email</label>
<input id="username" name="username" type="text" value="${view.username}" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="254"${invalid ? html` aria-invalid="true" aria-describedby="login-error"` : ''}${view.username === '' ? html` autofocus` : ''}>
</div>
<div class="field">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${invalid ? html` aria-invalid="true" aria-describedby="login-error"` : ''}${view.username !== '' ? html` autofocus` : ''}>
</div>
<label class="check"><input type="checkbox" name="remember" value="1"> Remember me on this device</label>
<div class="actions">
<button class="primary" type="submit" name="action" value="sign_in">Sign in</button>
<button class="secondary" type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</div>
</form>
</div>`,
  };
}

export interface ConsentView {
  challenge: string;
  csrfToken: string;
  clientName: string;
  logoUri: string | undefined;
  policyUri: string | undefined;
  tosUri: string | undefined;
  user: User | undefined;
  subject: string;
  scopes: readonly string[];
  audience: readonly string[];
  /** The access goes to the application on a device (RFC 8628), not in this browser. */
  device?: boolean;
}

/** Each requested scope in plain words; scopes with the same meaning (`offline`, `offline_access`) once. */
function scopeItems(scopes: readonly string[]): Html[] {
  const seen = new Set<string>();
  const items: Html[] = [];
  for (const scope of scopes) {
    const known = describeScope(scope);
    const key = known?.title ?? `scope:${scope}`;
    if (seen.has(key)) continue;
    seen.add(key);
    items.push(
      known
        ? html`<li><strong>${known.title}</strong><span>${known.detail}</span></li>`
        : html`<li><strong>Use the permission <code>${scope}</code></strong><span>A permission defined by the application.</span></li>`,
    );
  }
  return items;
}

export function consentPage(view: ConsentView): Page {
  const logo = httpUrl(view.logoUri);
  const policy = httpUrl(view.policyUri);
  const terms = httpUrl(view.tosUri);
  const initial = (Array.from(view.clientName)[0] ?? '?').toUpperCase();
  const who = view.user
    ? html`<strong>${view.user.username}</strong>${view.user.email ? html` (${view.user.email})` : ''}`
    : html`<strong>${view.subject}</strong>`;
  const items = scopeItems(view.scopes);
  if (view.audience.length > 0) {
    items.push(
      html`<li><strong>Use these services for you</strong><span>${view.audience.map((aud, i) => html`${i > 0 ? ', ' : ''}<code>${aud}</code>`)}</span></li>`,
    );
  }
  const links = [
    policy ? html`<a href="${policy}">privacy policy</a>` : undefined,
    terms ? html`<a href="${terms}">terms of service</a>` : undefined,
  ].filter((link): link is Html => link !== undefined);
  return {
    title: `Allow ${view.clientName}?`,
    imageOrigins: logo ? [new URL(logo).origin] : [],
    body: html`<div class="card">
<div class="client">
${logo ? html`<img src="${logo}" alt="" width="52" height="52">` : html`<span class="initial" aria-hidden="true">${initial}</span>`}
<h1><span>${view.clientName}</span> wants to access your account</h1>
</div>
<p class="who">Signed in as ${who}</p>
${view.device ? html`<p class="notice">The request comes from <strong>${view.clientName}</strong> on a device, not from this browser. Allow it only for a device you are connecting yourself.</p>` : ''}
<h2 id="scopes-heading">This will allow ${view.clientName} to:</h2>
${items.length > 0 ? html`<ul class="scopes" aria-labelledby="scopes-heading">${items}</ul>` : html`<p>Nothing beyond knowing that you signed in.</p>`}
<form method="post" action="consent">
${hidden('consent_challenge', view.challenge)}
${hidden('csrf_token', view.csrfToken)}
<label class="check"><input type="checkbox" name="remember" value="1"> Remember my choice for ${view.clientName}</label>
<div class="actions">
<button class="primary" type="submit" name="action" value="allow">Allow</button>
<button class="secondary" type="submit" name="action" value="deny">Deny</button>
</div>
</form>
<p class="fine">${
      links.length > 0
        ? html`${view.clientName} will use this information as its ${links.map((link, i) => html`${i > 0 ? ' and ' : ''}${link}`)} describe.`
        : html`Only allow applications you trust with this information.`
    }</p>
</div>`,
  };
}

export interface DeviceCodeView {
  challenge: string;
  csrfToken: string;
  /** The code as the device's link carried it, or as the person last typed it. */
  userCode: string;
  /** True when the code came with the link (verification_uri_complete): the person only confirms it. */
  prefilled: boolean;
  error?: string;
  /** 422 for a wrong code, 429 or 503 when it was not checked. */
  status?: number;
}

/**
 * The code-entry page of the device flow (RFC 8628 §3.3): the person types the code their device
 * shows, or confirms the one its link carried. Either way they submit it themselves: a link someone
 * sent them must not connect a device without a look at the code (RFC 8628 §5.4, remote phishing).
 */
export function deviceCodePage(view: DeviceCodeView): Page {
  const invalid = view.error !== undefined;
  return {
    title: 'Connect a device',
    status: view.status ?? (invalid ? 422 : 200),
    body: html`<div class="card">
<h1>Connect a device</h1>
<p class="lede">${view.prefilled ? 'Check that this code is the one your device shows, then continue.' : 'Enter the code your device shows.'}</p>
${invalid ? html`<p class="alert" role="alert" id="device-error">${view.error}</p>` : ''}
<form method="post" action="device">
${hidden('device_challenge', view.challenge)}
${hidden('csrf_token', view.csrfToken)}
<div class="field">
<label for="user_code">Code</label>
<input id="user_code" name="user_code" type="text" class="code" value="${view.userCode}" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required maxlength="64"${invalid ? html` aria-invalid="true" aria-describedby="device-error"` : ''} autofocus>
</div>
<div class="actions">
<button class="primary" type="submit" name="action" value="continue">Continue</button>
</div>
</form>
<p class="fine">Only enter a code from a device in front of you. If someone sent you this code or link, stop here: they would get access to your account.</p>
</div>`,
  };
}

export function deviceDonePage(): Page {
  return {
    title: 'Device connected',
    body: html`<div class="card">
<h1>Your device is connected</h1>
<p class="lede">You can return to your device: it finishes signing in by itself. You can close this page.</p>
</div>`,
  };
}

export interface LogoutView {
  challenge: string;
  csrfToken: string;
  clientName: string | undefined;
}

export function logoutPage(view: LogoutView): Page {
  return {
    title: 'Sign out',
    body: html`<div class="card">
<h1>Sign out?</h1>
<p class="lede">${view.clientName ? html`<strong>${view.clientName}</strong> asked to sign you out. ` : ''}Signing out ends your session here and in the applications you signed in to with it.</p>
<form method="post" action="logout">
${hidden('logout_challenge', view.challenge)}
${hidden('csrf_token', view.csrfToken)}
<div class="actions">
<button class="primary" type="submit" name="action" value="sign_out">Yes, sign me out</button>
<button class="secondary" type="submit" name="action" value="stay">No, stay signed in</button>
</div>
</form>
</div>`,
  };
}

export function stillSignedInPage(): Page {
  return {
    title: 'Still signed in',
    body: html`<div class="card">
<h1>You are still signed in</h1>
<p class="lede">Nothing changed: your session continues. You can close this page, or go back to the application you were using.</p>
</div>`,
  };
}

export interface ErrorView {
  status: number;
  title: string;
  message: string;
  /** An OAuth error code, shown for reference. */
  code?: string | undefined;
}

export function errorPage(view: ErrorView): Page {
  return {
    title: view.title,
    status: view.status,
    body: html`<div class="card">
<h1>${view.title}</h1>
<p class="lede">${view.message}</p>
${view.code ? html`<p class="fine">Error code: <code>${view.code}</code></p>` : ''}
</div>`,
  };
}

export function homePage(product: string): Page {
  return {
    title: 'Accounts',
    body: html`<div class="card">
<h1>${product} accounts</h1>
<p class="lede">This is where you sign in to applications that use ${product}. There is nothing to do here directly: open an application and choose “Sign in”.</p>
</div>`,
  };
}
