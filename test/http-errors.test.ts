/**
 * The error classes of src/http/errors.ts carry their names (logs and stack traces show them), and
 * database failures are classified by src/persistence/errors.ts, whatever the dialect says.
 */
import { describe, expect, it } from 'vitest';
import * as errors from '../src/http/errors.js';
import { HttpError, InvalidRequestError, NotFoundError } from '../src/http/errors.js';
import { databaseErrorKind } from '../src/persistence/errors.js';

describe('HTTP error classes', () => {
  it('every class made by the kind() factory is named as it is exported, and so are its instances', () => {
    const classes = Object.entries(errors).filter(
      (entry): entry is [string, new () => HttpError] => typeof entry[1] === 'function' && entry[1].prototype instanceof HttpError,
    );
    expect(classes.length).toBeGreaterThan(20);
    for (const [exported, ErrorClass] of classes) {
      expect(ErrorClass.name).toBe(exported);
      const instance = new ErrorClass();
      expect(instance.name).toBe(exported);
      expect(String(instance.stack)).toMatch(new RegExp(`^${exported}`));
    }
  });

  it('names survive subclassing and keep the wire shape', () => {
    class ChildError extends InvalidRequestError {}
    expect(new ChildError('hint').name).toBe('ChildError');
    expect(new InvalidRequestError('The hint.').name).toBe('InvalidRequestError');
    expect(new NotFoundError().body()).toEqual({ error: 'Unable to locate the resource', error_description: '' });
    expect(new InvalidRequestError('The hint.').body().error).toBe('invalid_request');
  });
});

describe('database error classification', () => {
  it('tells a missing table, a broken foreign key and unstorable input apart, in both dialects', () => {
    expect(databaseErrorKind({ code: '42P01', message: 'relation "hydra_client" does not exist' })).toBe('missing-table');
    expect(databaseErrorKind(new Error('no such table: hydra_client'))).toBe('missing-table');
    expect(databaseErrorKind({ code: '23503' })).toBe('foreign-key');
    expect(databaseErrorKind({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' })).toBe('foreign-key');
    expect(databaseErrorKind({ code: '22021' })).toBe('invalid-data');
    expect(databaseErrorKind({ code: '22P05' })).toBe('invalid-data');
  });

  it('leaves everything else unclassified', () => {
    expect(databaseErrorKind({ code: '23505' })).toBeUndefined();
    expect(databaseErrorKind({ code: '2200' })).toBeUndefined();
    expect(databaseErrorKind({ code: 22021 })).toBeUndefined();
    expect(databaseErrorKind(new Error('connection refused'))).toBeUndefined();
    expect(databaseErrorKind(undefined)).toBeUndefined();
    expect(databaseErrorKind(null)).toBeUndefined();
    expect(databaseErrorKind('42P01')).toBeUndefined();
  });
});
