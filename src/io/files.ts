/**
 * File access for model files: only regular files are opened, and every system error becomes a
 * `FileError` naming the path. A FIFO is opened non-blocking (an ordinary open would wait
 * forever for a writer) and then refused, as are directories, sockets and devices; symbolic
 * links are followed, so a link to a directory is refused the same way.
 *
 * @example
 * const text = readTextFile(join(dir, "config.json"));
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, statSync, writeFileSync, type Stats } from "node:fs";
import { FileError } from "../errors.ts";
import { open as openAsync, type FileHandle } from "node:fs/promises";

/** What a non-regular file is, for messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** The system error `e` as a `FileError` for `path`, saying what was being done. */
export function fileError(path: string, e: unknown, doing: string): FileError {
  if (e instanceof FileError) return e;
  const code = typeof (e as { code?: unknown })?.code === "string" ? (e as { code: string }).code : "EIO";
  const reason: Record<string, string> = {
    ENOENT: "no such file or directory",
    EISDIR: "is a directory, not a regular file",
    ENOTDIR: "a component of the path is not a directory",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EEXIST: "already exists",
    ENOSPC: "no space left on the device",
    EROFS: "read-only file system",
    ELOOP: "too many levels of symbolic links",
    ENAMETOOLONG: "name too long",
  };
  return new FileError(path, code, `cannot ${doing}: ${reason[code] ?? (e instanceof Error ? e.message : String(e))}`);
}

/** Open `path` for reading, refusing anything but a regular file. The caller closes the fd. */
export function openRegularFile(path: string): number {
  if (typeof path !== "string" || path === "") throw new FileError(String(path), "EINVAL", "a file path must be a non-empty string");
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw fileError(path, e, "open");
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileError(path, "ENOTREG", `is ${kindOf(st)}, not a regular file`);
  } catch (e) {
    closeSync(fd);
    throw fileError(path, e, "open");
  }
  return fd;
}

/** `openRegularFile` through the asynchronous file API: a FileHandle of a regular file. The caller closes it. */
export async function openRegularFileAsync(path: string): Promise<FileHandle> {
  if (typeof path !== "string" || path === "") throw new FileError(String(path), "EINVAL", "a file path must be a non-empty string");
  let file: FileHandle;
  try {
    file = await openAsync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw fileError(path, e, "open");
  }
  try {
    const st = await file.stat();
    if (!st.isFile()) throw new FileError(path, "ENOTREG", `is ${kindOf(st)}, not a regular file`);
  } catch (e) {
    await file.close();
    throw fileError(path, e, "open");
  }
  return file;
}

/** True when `path` names a regular file (following links); false when it does not exist. */
export function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** True when something exists at `path` (following links). */
export function pathExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** True when `path` names a directory (following links). */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Default limit of `readTextFile`: JSON and templates of real models are far smaller. */
const MAX_TEXT_BYTES = 256 << 20;

/** The contents of a regular file as UTF-8, refusing files over `maxBytes`. */
export function readTextFile(path: string, maxBytes = MAX_TEXT_BYTES): string {
  const fd = openRegularFile(path);
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) throw new FileError(path, "EFBIG", `is ${size} bytes, over the ${maxBytes}-byte limit for this kind of file`);
    const bytes = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, bytes, done, size - done, done);
      if (n <= 0) break;
      done += n;
    }
    return new TextDecoder().decode(bytes.subarray(0, done));
  } catch (e) {
    throw fileError(path, e, "read");
  } finally {
    closeSync(fd);
  }
}

/** `mkdir -p`, with failures as `FileError`. */
export function makeDirectory(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    throw fileError(path, e, "create the directory");
  }
}

/** Write a whole file, with failures as `FileError`. */
export function writeTextFile(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw fileError(path, e, "write");
  }
}

/** Open `path` for writing (created or truncated), with failures as `FileError`. */
export function openForWrite(path: string): number {
  try {
    return openSync(path, "w");
  } catch (e) {
    throw fileError(path, e, "create");
  }
}
