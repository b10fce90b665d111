/**
 * Technicians' pictures (spec session-tools B2: "avatar image stored and served by the gateway,
 * size-limited"). A technician uploads one with SetAvatar; the gateway keeps it in memory,
 * content-addressed (`ferry:avatar/<sha-256 prefix>`, so a re-upload of the same picture is one
 * entry), and serves it to the customers the technician chats with (AvatarRequest).
 *
 * Bounds: one picture per technician name (a new upload replaces the old one), at most
 * `MAX_AVATAR_BYTES` each and `maxEntries` in all (the least recently stored gives way). Only
 * PNG, JPEG and WebP are kept, and the declared type must match the bytes, so a client cannot
 * make the gateway serve arbitrary content under an image type.
 */
import { createHash } from 'node:crypto';

export const MAX_AVATAR_BYTES = 32 * 1024;
export const AVATAR_REF_PREFIX = 'ferry:avatar/';

/** The image type the bytes start with, or null. */
export function sniffImage(image: Uint8Array): string | null {
  const at = (i: number, bytes: number[]) => bytes.every((b, k) => image[i + k] === b);
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (at(0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return 'image/webp';
  return null;
}

export interface StoredAvatar {
  readonly ref: string;
  readonly mimeType: string;
  readonly image: Uint8Array;
}

export class AvatarStore {
  /** ref -> picture, in storing order (the oldest gives way first). */
  readonly #byRef = new Map<string, StoredAvatar & { owners: Set<string> }>();
  /** technician name -> its ref. */
  readonly #byOwner = new Map<string, string>();
  readonly #maxEntries: number;

  constructor(maxEntries = 1024) {
    this.#maxEntries = maxEntries;
  }

  /**
   * Stores `owner`'s picture; returns its ref, or why it was refused. The bytes are copied
   * (the caller's buffer belongs to a decoded frame).
   */
  put(owner: string, image: Uint8Array, mimeType: string): string | { refused: string } {
    if (image.length === 0 || image.length > MAX_AVATAR_BYTES) {
      return { refused: `a picture has 1 to ${MAX_AVATAR_BYTES} bytes` };
    }
    const sniffed = sniffImage(image);
    if (sniffed === null) return { refused: 'a picture is PNG, JPEG or WebP' };
    if (sniffed !== mimeType) {
      return { refused: `the bytes are ${sniffed}, not ${mimeType || 'an empty type'}` };
    }
    const digest = createHash('sha256').update(image).digest('base64url').slice(0, 22);
    const ref = `${AVATAR_REF_PREFIX}${digest}`;
    this.#release(owner);
    const known = this.#byRef.get(ref);
    if (known !== undefined) known.owners.add(owner);
    else {
      if (this.#byRef.size >= this.#maxEntries) this.#evictOldest();
      this.#byRef.set(ref, { ref, mimeType, image: image.slice(), owners: new Set([owner]) });
    }
    this.#byOwner.set(owner, ref);
    return ref;
  }

  /** The ref of `owner`'s picture, if the gateway keeps one. */
  refOf(owner: string): string | undefined {
    return this.#byOwner.get(owner);
  }

  get(ref: string): StoredAvatar | undefined {
    return this.#byRef.get(ref);
  }

  get size(): number {
    return this.#byRef.size;
  }

  /** `owner` no longer uses its previous picture; a picture nobody uses is dropped. */
  #release(owner: string): void {
    const previous = this.#byOwner.get(owner);
    if (previous === undefined) return;
    this.#byOwner.delete(owner);
    const entry = this.#byRef.get(previous);
    if (entry === undefined) return;
    entry.owners.delete(owner);
    if (entry.owners.size === 0) this.#byRef.delete(previous);
  }

  #evictOldest(): void {
    const [ref, entry] = this.#byRef.entries().next().value as [
      string,
      StoredAvatar & { owners: Set<string> },
    ];
    this.#byRef.delete(ref);
    for (const owner of entry.owners) this.#byOwner.delete(owner);
  }
}
