/**
 * Data-residency jurisdictions Switchyard knows. A jurisdiction is where data may
 * be processed; a fleet file may declare more under `jurisdictions:`.
 */
export const knownJurisdictions: readonly string[] = [
  'us', 'eu', 'uk', 'jp', 'ca', 'au', 'in', 'sg', 'kr', 'br', 'ch', 'ae', 'sa', 'za', 'mx', 'id', 'tw', 'nz', 'no', 'il',
];
