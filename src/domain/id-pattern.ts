/**
 * How every id is written, in fleet specs and gateway configs alike (pools, services, endpoints,
 * routes, tenants, jurisdictions; a request's geography is checked against it too). At most 128
 * characters: an id labels every metric and log line of its thing (E51: a 1 MB tenant id made each
 * request's log line 1 MB).
 */
/** The longest id: idPattern's bound, and the room generated ids keep within (up's replica ids). */
export const maxIdChars = 128;

export const idPattern = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,${String(maxIdChars - 1)}}$`);

/** What idPattern asks, said to whoever wrote an id that breaks it. */
export const idRule = `an id of letters, digits, ".", "_", ":" or "-", starting with a letter or digit, at most ${String(maxIdChars)} characters`;
