import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../persistence/errors.js';
import type { Tables, UserRow } from '../persistence/tables.js';
import { DEFAULT_SCRYPT, DummyPassword, hashPassword, MAX_PASSWORD_LENGTH, type ScryptParams, verifyPassword } from './password.js';

/** OpenID Connect Core §5.1.1. */
export interface AddressClaim {
  formatted?: string;
  street_address?: string;
  locality?: string;
  region?: string;
  postal_code?: string;
  country?: string;
}

/** The standard claims kept for a person besides `sub`, `email` and `updated_at` (OpenID Connect Core §5.1). */
export interface UserClaims {
  name?: string;
  given_name?: string;
  family_name?: string;
  middle_name?: string;
  nickname?: string;
  preferred_username?: string;
  profile?: string;
  picture?: string;
  website?: string;
  gender?: string;
  birthdate?: string;
  zoneinfo?: string;
  locale?: string;
  email_verified?: boolean;
  phone_number?: string;
  phone_number_verified?: boolean;
  address?: AddressClaim;
}

export interface User {
  /** A UUID: the subject (`sub`) of this person's tokens. */
  id: string;
  username: string;
  email: string | undefined;
  claims: UserClaims;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewUser {
  username: string;
  email?: string | undefined;
  password: string;
  claims?: UserClaims;
}

/** Where the identity UI keeps people. Narrow on purpose: a login app needs little more than this. */
export interface UserStore {
  /** Validates, hashes the password, and stores; throws UserConflictError when the username or email is taken. */
  create(user: NewUser): Promise<User>;
  findById(id: string): Promise<User | undefined>;
  /** By username, or by email when `login` contains an `@`; case-insensitive. */
  findByLogin(login: string): Promise<User | undefined>;
  /**
   * The person whose username or email and password these are, else undefined. Takes as long for an
   * unknown username as for a wrong password, so the answer time does not reveal who has an account.
   */
  authenticate(login: string, password: string): Promise<User | undefined>;
  /** Everyone, by username. */
  list(): Promise<User[]>;
  delete(id: string): Promise<boolean>;
}

/** A username, email, password or claim that cannot be stored; the message says what is wrong. */
export class InvalidUserError extends Error {
  override name = 'InvalidUserError';
}

export class UserConflictError extends Error {
  override name = 'UserConflictError';
}

export const MIN_PASSWORD_LENGTH = 8;
const USERNAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,189}$/;
const STRING_CLAIMS = [
  'name',
  'given_name',
  'family_name',
  'middle_name',
  'nickname',
  'preferred_username',
  'profile',
  'picture',
  'website',
  'gender',
  'birthdate',
  'zoneinfo',
  'locale',
  'phone_number',
] as const;
const BOOLEAN_CLAIMS = ['email_verified', 'phone_number_verified'] as const;
const ADDRESS_FIELDS = ['formatted', 'street_address', 'locality', 'region', 'postal_code', 'country'] as const;

/** Usernames and emails are matched without regard to case: they are stored lower-cased. */
export function normalizeLogin(value: string): string {
  return value.normalize('NFKC').trim().toLowerCase();
}

/** The claims as they may be stored: known names with the right types, empty strings dropped. */
export function validateClaims(input: unknown): UserClaims {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new InvalidUserError('claims must be an object');
  const source = input as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined || value === '') continue;
    if ((STRING_CLAIMS as readonly string[]).includes(name)) {
      if (typeof value !== 'string' || value.length > 2048)
        throw new InvalidUserError(`claim ${name} must be a string of at most 2048 characters`);
      out[name] = value;
    } else if ((BOOLEAN_CLAIMS as readonly string[]).includes(name)) {
      if (typeof value !== 'boolean') throw new InvalidUserError(`claim ${name} must be true or false`);
      out[name] = value;
    } else if (name === 'address') {
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        throw new InvalidUserError('claim address must be an object');
      const address: Record<string, string> = {};
      for (const [field, part] of Object.entries(value as Record<string, unknown>)) {
        if (!(ADDRESS_FIELDS as readonly string[]).includes(field)) throw new InvalidUserError(`address has no field ${field}`);
        if (typeof part !== 'string') throw new InvalidUserError(`address.${field} must be a string`);
        if (part !== '') address[field] = part;
      }
      if (Object.keys(address).length > 0) out.address = address;
    } else {
      throw new InvalidUserError(`${name} is not a standard claim this store keeps`);
    }
  }
  return out as UserClaims;
}

function validatePassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new InvalidUserError(`the password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new InvalidUserError(`the password may have at most ${MAX_PASSWORD_LENGTH} characters`);
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email ?? undefined,
    claims: JSON.parse(row.claims) as UserClaims,
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  };
}

/** The user store on SQLite or PostgreSQL (the `users` table of migration 0003). */
export class SqlUserStore implements UserStore {
  /** What an unknown username is checked against, so it takes as long as a known one. */
  private readonly dummyPassword = new DummyPassword();

  constructor(
    private readonly db: Kysely<Tables>,
    /** Cost of new password hashes; stored hashes verify with the parameters they carry. */
    private readonly scrypt: ScryptParams = DEFAULT_SCRYPT,
  ) {}

  async create(input: NewUser): Promise<User> {
    const username = normalizeLogin(input.username);
    if (!USERNAME.test(username)) {
      throw new InvalidUserError('usernames are 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit');
    }
    const email = input.email === undefined || input.email.trim() === '' ? null : normalizeLogin(input.email);
    if (email !== null && !EMAIL.test(email)) throw new InvalidUserError(`"${email}" is not an email address`);
    validatePassword(input.password);
    const claims = validateClaims(input.claims ?? {});
    const now = Date.now();
    const row: UserRow = {
      id: randomUUID(),
      username,
      email,
      password_hash: await hashPassword(input.password, this.scrypt),
      claims: JSON.stringify(claims),
      created_at: now,
      updated_at: now,
    };
    try {
      await this.db.insertInto('users').values(row).execute();
    } catch (error) {
      if (isUniqueViolation(error)) {
        const taken = await this.findByLogin(username);
        throw new UserConflictError(taken ? `the username "${username}" is taken` : `the email "${email}" belongs to another user`);
      }
      throw error;
    }
    return toUser(row);
  }

  async findById(id: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toUser(row) : undefined;
  }

  async findByLogin(login: string): Promise<User | undefined> {
    const row = await this.rowByLogin(login);
    return row ? toUser(row) : undefined;
  }

  async authenticate(login: string, password: string): Promise<User | undefined> {
    const row = await this.rowByLogin(login);
    if (!row) return this.dummyPassword.verify(password).then(() => undefined);
    return (await verifyPassword(password, row.password_hash)) ? toUser(row) : undefined;
  }

  async list(): Promise<User[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('username').execute();
    return rows.map(toUser);
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  private rowByLogin(login: string): Promise<UserRow | undefined> {
    const value = normalizeLogin(login);
    if (value === '' || value.length > 254) return Promise.resolve(undefined);
    const column = value.includes('@') ? 'email' : 'username';
    return this.db.selectFrom('users').selectAll().where(column, '=', value).executeTakeFirst();
  }
}
