/** A wait as OpenAI's reset headers write it (Go's duration format): `0s`, `12ms`, `1.5s`, `6m0s`. */
export function goDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'inf';
  const whole = Math.max(0, Math.ceil(ms));
  if (whole === 0) return '0s';
  if (whole < 1000) return `${String(whole)}ms`;
  const hours = Math.floor(whole / 3_600_000);
  const minutes = Math.floor((whole % 3_600_000) / 60_000);
  // Seconds with up to three decimals and no trailing zeros, as Go prints them.
  const seconds = String(Number(((whole % 60_000) / 1000).toFixed(3)));
  if (hours > 0) return `${String(hours)}h${String(minutes)}m${seconds}s`;
  return minutes > 0 ? `${String(minutes)}m${seconds}s` : `${seconds}s`;
}
