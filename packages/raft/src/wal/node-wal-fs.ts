import type { FileHandle } from "node:fs/promises";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import type { WalFile, WalFs, WalReader } from "./wal-fs.js";

/** The real file system (node:fs/promises). */
export class NodeWalFs implements WalFs {
  async mkdirs(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
  }

  list(dir: string): Promise<string[]> {
    return readdir(dir);
  }

  async readFile(path: string): Promise<Uint8Array> {
    const buffer = await readFile(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  async openRead(path: string): Promise<WalReader> {
    const file = await open(path, "r");
    return {
      read: async (offset, length) => {
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await file.read(buffer, 0, length, offset);
        return new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead);
      },
      close: () => file.close(),
    };
  }

  async openAppend(path: string): Promise<WalFile> {
    // "a": O_APPEND | O_CREAT, so every write lands at the end even if the position were off.
    return new NodeWalFile(await open(path, "a"));
  }

  async remove(path: string): Promise<void> {
    await rm(path);
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }

  async truncate(path: string, lengthBytes: number): Promise<void> {
    const handle = await open(path, "r+");
    try {
      await handle.truncate(lengthBytes);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  async syncDir(dir: string): Promise<void> {
    // Linux lets a directory be opened read-only and fsynced; that persists its entries.
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

class NodeWalFile implements WalFile {
  constructor(private readonly handle: FileHandle) {}

  async append(data: Uint8Array): Promise<void> {
    let written = 0;
    // write(2) may write less than asked (signals, quotas); loop until all bytes are in.
    while (written < data.byteLength) {
      const { bytesWritten } = await this.handle.write(data, written, data.byteLength - written);
      written += bytesWritten;
    }
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
