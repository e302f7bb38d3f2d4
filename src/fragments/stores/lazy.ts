import type { Readable } from 'node:stream';
import type { FragmentStore, ObjectCheck, StoredObject } from './types.js';

/**
 * A store whose backend module loads on first use, so that a process which never touches a
 * store of that scheme never loads its SDK (importing the readers must not load `@aws-sdk`).
 * `location` answers without loading: it is what error messages name.
 */
export class LazyStore implements FragmentStore {
  private backend: Promise<FragmentStore> | undefined;

  constructor(
    readonly url: string,
    private readonly load: () => Promise<FragmentStore>,
    private readonly where: (key: string) => string,
  ) {}

  private get store(): Promise<FragmentStore> {
    // A failed load (a missing optional SDK) is retried at the next use rather than cached.
    return (this.backend ??= this.load().catch((err: unknown) => {
      this.backend = undefined;
      throw err;
    }));
  }

  async put(key: string, file: string, check: ObjectCheck): Promise<void> {
    return (await this.store).put(key, file, check);
  }

  async putBytes(key: string, data: Buffer): Promise<void> {
    return (await this.store).putBytes(key, data);
  }

  async confirm(key: string, check: ObjectCheck): Promise<boolean> {
    return (await this.store).confirm(key, check);
  }

  async list(prefix: string): Promise<StoredObject[]> {
    return (await this.store).list(prefix);
  }

  async open(key: string, range?: { start: number; end: number }): Promise<Readable> {
    return (await this.store).open(key, range);
  }

  async presign(key: string, expiresSeconds: number): Promise<string> {
    return (await this.store).presign(key, expiresSeconds);
  }

  async delete(key: string): Promise<void> {
    return (await this.store).delete(key);
  }

  location(key: string): string {
    return this.where(key);
  }
}
