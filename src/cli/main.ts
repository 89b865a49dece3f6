#!/usr/bin/env node
import { Command } from 'commander';
import { ConfigError } from '../config/load.js';
import { VERSION } from '../version.js';
import { CliError } from './admin-api.js';
import { authorizationCodeCommand } from './authorization-code-command.js';
import { clientCommands } from './client-commands.js';
import { deviceCodeCommand } from './device-code-command.js';
import { janitorCommand } from './janitor-command.js';
import { jwkCommands } from './jwk-commands.js';
import { migrateCommand } from './migrate.js';
import { quickstartCommand } from './quickstart.js';
import { registrationCommands } from './registration-commands.js';
import { serveCommand } from './serve.js';
import { tokenCommands } from './token-commands.js';
import { uiCommand } from './ui-command.js';
import { userCommands } from './user-commands.js';

export function buildProgram(): Command {
  const clients = clientCommands();
  const jwks = jwkCommands();
  const tokens = tokenCommands();
  const registration = registrationCommands();
  const program = new Command('portcullis')
    .description('An OAuth 2.0 and OpenID Connect server, wire-compatible with Ory Hydra')
    .version(VERSION, '-v, --version')
    .showHelpAfterError()
    .addCommand(serveCommand())
    .addCommand(quickstartCommand())
    .addCommand(migrateCommand())
    .addCommand(janitorCommand())
    .addCommand(uiCommand())
    .addCommand(userCommands())
    .addCommand(
      new Command('create').description('Create resources through the admin API').addCommand(clients.create).addCommand(jwks.create),
    )
    .addCommand(
      new Command('register')
        .description('Register clients through the public API (OpenID Connect Dynamic Client Registration)')
        .addCommand(registration.register),
    )
    .addCommand(
      new Command('get')
        .description('Show resources through the admin API')
        .addCommand(clients.get)
        .addCommand(jwks.get)
        .addCommand(registration.get),
    )
    .addCommand(new Command('list').alias('ls').description('List resources through the admin API').addCommand(clients.list))
    .addCommand(
      new Command('import')
        .description('Import resources from files or stdin through the admin API')
        .addCommand(clients.import)
        .addCommand(jwks.import),
    )
    .addCommand(
      new Command('update')
        .description('Change resources through the admin API')
        .addCommand(clients.update)
        .addCommand(registration.update),
    )
    .addCommand(
      new Command('delete')
        .description('Delete resources through the admin API')
        .addCommand(clients.delete)
        .addCommand(jwks.delete)
        .addCommand(tokens.deleteAccessTokens)
        .addCommand(registration.delete),
    )
    .addCommand(
      new Command('perform')
        .description('Run OAuth 2.0 flows as a client')
        .addCommand(tokens.performClientCredentials)
        .addCommand(authorizationCodeCommand())
        .addCommand(deviceCodeCommand()),
    )
    .addCommand(new Command('introspect').description('Introspect tokens through the admin API').addCommand(tokens.introspect))
    .addCommand(new Command('revoke').description('Revoke tokens as a client').addCommand(tokens.revoke))
    .addCommand(
      new Command('version').description('Print the version').action(() => {
        process.stdout.write(`${VERSION}\n`);
      }),
    );
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    if (error instanceof ConfigError) process.stderr.write(`invalid configuration: ${error.message}\n`);
    else if (error instanceof CliError) process.stderr.write(`error: ${error.message}\n`);
    else process.stderr.write(`error: ${(error as Error).message ?? String(error)}\n`);
    process.exitCode = 1;
  });
