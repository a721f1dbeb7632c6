/**
 * How every id is written, in fleet specs and gateway configs alike (pools, services, endpoints,
 * routes, tenants, jurisdictions; a request's geography is checked against it too).
 */
export const idPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/** What idPattern asks, said to whoever wrote an id that breaks it. */
export const idRule = 'an id of letters, digits, ".", "_", ":" or "-", starting with a letter or digit';
