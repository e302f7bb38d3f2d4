/**
 * The TypeScript name of a derivation (its class, interface and register type) or collection
 * type: every part between `/`, `-`, `_` or `.` gets a capital first letter and keeps the rest,
 * as Flow's generated modules name them. `acme/user-details` → `AcmeUserDetails`.
 */
export function typeName(name: string): string {
  return name
    .split(/[/\-_.]/)
    .filter((p) => p !== '')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
}
