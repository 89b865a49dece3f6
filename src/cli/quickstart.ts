import { Command } from 'commander';
import type { ClientInput } from '../client/model.js';
import { ensureSystemSecret } from '../config/secrets.js';
import type { Registry } from '../registry.js';
import { configFromFlags } from './serve.js';

/** The quickstart's fixed demo account and client: created when missing, printed at start. */
export const DEMO_USER = { username: 'demo', password: 'portcullis-demo', email: 'demo@example.com' };
export const DEMO_CLIENT_ID = 'portcullis-demo';
/** A public client for the device flow (RFC 8628): `portcullis perform device-code --client-id portcullis-demo-device`. */
export const DEMO_DEVICE_CLIENT_ID = 'portcullis-demo-device';

interface QuickstartFlags {
  config?: string;
  demoPort: string;
}

/**
 * `portcullis quickstart`: Portcullis in development mode on its embedded SQLite, the identity UI
 * and the demo app, in one process, with a demo user and client, so a person can sign in at once.
 */
export function quickstartCommand(): Command {
  return new Command('quickstart')
    .description('Run Portcullis, the identity UI and a demo app together, with a demo user (development only)')
    .option('-c, --config <file>', 'configuration file (YAML or JSON)')
    .option('--demo-port <port>', 'port of the demo app', '5555')
    .action(async (flags: QuickstartFlags) => {
      await quickstart(flags);
    });
}

async function quickstart(flags: QuickstartFlags): Promise<void> {
  const [{ startServers }, { createLogger }, { createRegistry }, { startIdentityUi, SqlUserStore }, { startDemo }] = await Promise.all([
    import('../servers.js'),
    import('../observability/logger.js'),
    import('../registry.js'),
    import('../identity/index.js'),
    import('../demo/index.js'),
  ]);
  const { config, warnings } = configFromFlags({ ...(flags.config ? { config: flags.config } : {}), dev: true });
  const logger = createLogger(config.log);
  for (const warning of warnings) logger.warn(warning);
  const warning = ensureSystemSecret(config);
  if (warning) logger.warn(`\n\n    ${warning}\n`);
  const demoPort = Number(flags.demoPort);
  const uiBase = config.ui.public_url.replace(/\/+$/, '') || `http://localhost:${config.ui.port}`;
  const demoBase = `http://localhost:${demoPort}`;
  // The bundled UI answers login, consent and logout unless other apps are configured.
  config.urls.login ||= `${uiBase}/login`;
  config.urls.consent ||= `${uiBase}/consent`;
  config.urls.logout ||= `${uiBase}/logout`;
  config.urls.error ||= `${uiBase}/error`;
  config.urls.device.verification ||= `${uiBase}/device`;
  config.urls.device.success ||= `${uiBase}/device/done`;
  config.urls.post_logout_redirect ||= `${demoBase}/`;

  const registry = await createRegistry(config, logger, { migrate: true });
  const servers = await startServers(registry, 'all');
  const ui = await startIdentityUi(config, logger, { database: registry.database });
  const secret = await ensureDemoClient(registry, demoBase);
  await ensureDemoDeviceClient(registry);
  const users = new SqlUserStore(registry.database.db);
  if (!(await users.findByLogin(DEMO_USER.username))) {
    await users.create({
      ...DEMO_USER,
      claims: { name: 'Demo Person', given_name: 'Demo', family_name: 'Person', preferred_username: 'demo', email_verified: true },
    });
  }
  const demo = await startDemo(
    {
      issuer: config.urls.self.issuer,
      clientId: DEMO_CLIENT_ID,
      clientSecret: secret,
      publicUrl: demoBase,
      insecure: true,
      port: demoPort,
      host: 'localhost',
    },
    logger,
  );
  process.stdout.write(
    [
      '',
      'Portcullis is running (development mode, SQLite in ./data):',
      `  public API      ${config.urls.self.public}`,
      `  admin API       http://localhost:${config.serve.admin.port}/`,
      `  sign-in pages   ${uiBase}/`,
      '',
      `Open ${demoBase} and sign in as "${DEMO_USER.username}" with the password "${DEMO_USER.password}".`,
      'Or sign in a device (the device flow), and open the link it prints:',
      `  node dist/cli/main.js perform device-code --client-id ${DEMO_DEVICE_CLIENT_ID} --endpoint ${config.urls.self.public.replace(/\/+$/, '')}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.allSettled([demo.close(), ui.close(), servers.close()]);
    await registry.close();
    process.exitCode = 0;
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

/** Creates the client, or brings it up to date when it exists. */
async function upsertClient(registry: Registry, client: ClientInput & { client_id: string }): Promise<void> {
  if (await registry.clients.find(client.client_id)) await registry.clients.replace(client.client_id, client);
  else await registry.clients.create(client);
}

/**
 * The demo device: a public client (a device keeps no secret) that may use the device grant and
 * refresh its tokens, and nothing else.
 */
async function ensureDemoDeviceClient(registry: Registry): Promise<void> {
  await upsertClient(registry, {
    client_id: DEMO_DEVICE_CLIENT_ID,
    client_name: 'Portcullis demo device',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    scope: 'openid offline offline_access profile email',
    token_endpoint_auth_method: 'none' as const,
  });
}

/** The demo client, created or brought up to date, with a fresh secret the demo app uses for this run. */
async function ensureDemoClient(registry: Registry, demoBase: string): Promise<string> {
  const { randomString } = await import('../crypto/random.js');
  const secret = randomString(32);
  const client = {
    client_id: DEMO_CLIENT_ID,
    client_name: 'Portcullis demo app',
    client_secret: secret,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    scope: 'openid offline_access profile email',
    redirect_uris: [`${demoBase}/callback`],
    post_logout_redirect_uris: [`${demoBase}/`],
    backchannel_logout_uri: `${demoBase}/backchannel-logout`,
    token_endpoint_auth_method: 'client_secret_basic' as const,
  };
  await upsertClient(registry, client);
  return secret;
}
