import { z } from 'zod';

/**
 * Data-residency jurisdictions Switchyard knows. A jurisdiction is where data may
 * be processed; a fleet file may declare more under `jurisdictions:`.
 */
export const knownJurisdictions: readonly string[] = [
  'us', 'eu', 'uk', 'jp', 'ca', 'au', 'in', 'sg', 'kr', 'br', 'ch', 'ae', 'sa', 'za', 'mx', 'id', 'tw', 'nz', 'no', 'il',
];

/**
 * A jurisdiction name, as fleet specs and gateway configs read it. Names compare without case (the
 * gateway's x-switchyard-jurisdiction header does too), so they are kept lowercase: a fleet's 'EU'
 * and the built-in 'eu' are one jurisdiction for the planner and for the gateway `up` configures.
 */
export const jurisdictionIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'an id of letters, digits, ".", "_", ":" or "-"')
  .transform((value) => value.toLowerCase());
