/** Whether an address is this machine's alone (localhost, 127.0.0.0/8 in any dotted form, ::1 in any form). */
export function isLoopback(host: string): boolean {
  const lower = host.toLowerCase();
  // Each part an octet written plainly: 127.0.0.256 or 127.0.0.08 is no address, and may resolve as a name.
  if (lower === 'localhost' || /^127(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){1,3}$/.test(lower)) return true;
  if (!lower.includes(':')) return false;
  try {
    // The URL parser writes an IPv6 address in its one short form.
    const hostname = new URL(`http://[${lower}]`).hostname;
    // ::ffff:127.x.y.z, written ::ffff:7fxx:yyzz (the parser drops leading zeros, so four digits).
    return hostname === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(hostname);
  } catch {
    return false;
  }
}
