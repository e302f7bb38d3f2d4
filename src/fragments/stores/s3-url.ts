/**
 * The parts of an S3 store URL, `s3://bucket/prefix/?endpoint=…&region=…&forcePathStyle=true`:
 * the prefix is decoded and ends with `/` unless empty. Needs no SDK.
 */
export function parseS3Url(url: string): { bucket: string; prefix: string; query: URLSearchParams } {
  const u = new URL(url);
  let prefix = decodeURIComponent(u.pathname.replace(/^\/+/, ''));
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  return { bucket: u.hostname, prefix, query: u.searchParams };
}

/** Where an object of an S3 store is, for people: `s3://bucket/prefix/key`. */
export function s3Location(bucket: string, prefix: string, key: string): string {
  return `s3://${bucket}/${prefix}${key}`;
}
