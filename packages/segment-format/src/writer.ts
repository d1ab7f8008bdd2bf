import { closeSync, fdatasync, fdatasyncSync, fsyncSync, ftruncateSync, openSync, renameSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fsyncDir } from "./atomic-file.js";
import { LanceError } from "./errors.js";
import { encodeSegmentHeader, writeBatchInto, BATCH_HEADER_SIZE, SEGMENT_HEADER_SIZE, type BatchInput } from "./format.js";
import { parseSegmentName, segmentFileName } from "./naming.js";

export interface SegmentWriterOptions {
  /** Rotate once the file reaches this many bytes (checked after an append). Default 1 GiB. */
  maxSegmentBytes?: number;
  /** Rotate once the segment is this old. Default: never. */
  maxSegmentAgeMs?: number;
  /** Appends are gathered in memory up to this many bytes before one write(2). Default 1 MiB. */
  writeBufferBytes?: number;
}

/** Where an appended batch landed. */
export interface AppendedBatch {
  baseOffset: number;
  nextOffset: number;
  /** File position of the batch header. */
  position: number;
  size: number;
  recordCount: number;
  firstTimestampNs: bigint;
  lastTimestampNs: bigint;
}

const DEFAULT_MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
const DEFAULT_WRITE_BUFFER = 1024 * 1024;

/**
 * Appends record batches to one segment file. Offsets are assigned here: each batch takes
 * [nextOffset, nextOffset + recordCount). Data is durable only after `sync()` or `close()`.
 */
export class SegmentWriter {
  readonly dir: string;
  readonly baseOffset: number;
  readonly createdNs: bigint;
  private fileName: string;
  private fd: number;
  private nextOff: number;
  /** Bytes handed to the OS. */
  private written: number;
  private pending: Buffer;
  private pendingView: DataView;
  private pendingLen = 0;
  private closed = false;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private lastTs: bigint | null = null;

  private constructor(dir: string, fileName: string, fd: number, baseOffset: number, createdNs: bigint, nextOffset: number, size: number, opts: SegmentWriterOptions) {
    this.dir = dir;
    this.fileName = fileName;
    this.fd = fd;
    this.baseOffset = baseOffset;
    this.createdNs = createdNs;
    this.nextOff = nextOffset;
    this.written = size;
    this.maxBytes = opts.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES;
    this.maxAgeMs = opts.maxSegmentAgeMs ?? Number.POSITIVE_INFINITY;
    this.pending = Buffer.allocUnsafe(opts.writeBufferBytes ?? DEFAULT_WRITE_BUFFER);
    this.pendingView = new DataView(this.pending.buffer, this.pending.byteOffset, this.pending.byteLength);
  }

  /** Creates `{base}_{createdNs}.lnc` in `dir` (which must exist) and writes its header durably. */
  static create(dir: string, baseOffset: number, createdNs: bigint, opts: SegmentWriterOptions = {}): SegmentWriter {
    const fileName = segmentFileName(baseOffset, createdNs);
    const fd = openSync(join(dir, fileName), "wx", 0o640);
    try {
      const header = encodeSegmentHeader({ baseOffset, createdNs });
      writeSync(fd, header);
      fsyncSync(fd);
      fsyncDir(dir);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new SegmentWriter(dir, fileName, fd, baseOffset, createdNs, baseOffset, SEGMENT_HEADER_SIZE, opts);
  }

  /**
   * Reopens an active segment to append after its last valid batch. `validBytes` and
   * `nextOffset` come from a scan; anything after `validBytes` (a torn tail) is cut off.
   */
  static resume(path: string, validBytes: number, nextOffset: number, opts: SegmentWriterOptions = {}): SegmentWriter {
    const name = parseSegmentName(basename(path));
    if (!name) throw new LanceError("LNC_BAD_FILE_NAME", `${path} is not a segment file name ({base}_{ts}.lnc)`);
    if (name.closedNs !== null) throw new LanceError("LNC_CLOSED", `${path} is closed; appends go to a new segment`);
    if (validBytes < SEGMENT_HEADER_SIZE) throw new LanceError("LNC_BAD_ARGUMENT", `cannot resume ${path}: its header is not valid`);
    const fd = openSync(path, "r+");
    ftruncateSync(fd, validBytes);
    return new SegmentWriter(dirname(path), name.fileName, fd, name.baseOffset, name.createdNs, nextOffset, validBytes, opts);
  }

  get path(): string {
    return join(this.dir, this.fileName);
  }
  get name(): string {
    return this.fileName;
  }
  get nextOffset(): number {
    return this.nextOff;
  }
  /** File size including appends still in the write buffer. */
  get size(): number {
    return this.written + this.pendingLen;
  }
  get isClosed(): boolean {
    return this.closed;
  }
  get lastTimestampNs(): bigint | null {
    return this.lastTs;
  }

  /**
   * Appends one batch at the next offset, or at `atOffset` when given: a later offset leaves
   * a gap (replaying a log with holes); an earlier one is refused.
   */
  append(input: BatchInput, atOffset?: number): AppendedBatch {
    if (this.closed) throw new LanceError("LNC_CLOSED", `segment ${this.fileName} is closed`);
    if (atOffset !== undefined && atOffset < this.nextOff) {
      throw new LanceError("LNC_OFFSET_REGRESSION", `cannot append at offset ${atOffset}: segment ${this.fileName} is already at ${this.nextOff}`);
    }
    const size = BATCH_HEADER_SIZE + input.payload.byteLength;
    const position = this.size;
    const baseOffset = atOffset ?? this.nextOff;
    if (this.pendingLen + size > this.pending.byteLength) this.flush();
    if (size > this.pending.byteLength) {
      const encoded = Buffer.allocUnsafe(size);
      writeBatchInto(encoded, 0, baseOffset, input);
      this.writeAll(encoded);
    } else {
      writeBatchInto(this.pending, this.pendingLen, baseOffset, input, this.pendingView);
      this.pendingLen += size;
    }
    this.nextOff = baseOffset + input.recordCount;
    const last = input.lastTimestampNs ?? input.firstTimestampNs;
    if (this.lastTs === null || last > this.lastTs) this.lastTs = last;
    return {
      baseOffset,
      nextOffset: this.nextOff,
      position,
      size,
      recordCount: input.recordCount,
      firstTimestampNs: input.firstTimestampNs,
      lastTimestampNs: last,
    };
  }

  /** True once the segment is as big or as old as its limits allow. */
  shouldRotate(nowMs: number = Date.now()): boolean {
    if (this.size >= this.maxBytes) return true;
    return nowMs - Number(this.createdNs / 1_000_000n) >= this.maxAgeMs;
  }

  /** Hands buffered appends to the OS (visible to readers, not yet durable). */
  flush(): void {
    if (this.pendingLen === 0) return;
    const len = this.pendingLen;
    this.pendingLen = 0;
    this.writeAll(this.pending.subarray(0, len));
  }

  /** Flushes and fdatasyncs: every append so far survives a crash. */
  sync(): void {
    this.flush();
    fdatasyncSync(this.fd);
  }

  /**
   * `sync()` without blocking the event loop for the fdatasync (it runs on libuv's pool).
   * A `close()` racing with it is harmless: close syncs first.
   */
  async syncAsync(): Promise<void> {
    this.flush();
    const fd = this.fd;
    await new Promise<void>((resolve, reject) =>
      fdatasync(fd, (err) => (err && !this.closed ? reject(err) : resolve())),
    );
  }

  /**
   * Syncs, closes the file and renames it to its closed name `{base}_{created}-{closedNs}.lnc`
   * (then fsyncs the directory). Returns the new path.
   */
  close(closedNs: bigint): string {
    if (this.closed) return this.path;
    this.sync();
    closeSync(this.fd);
    this.closed = true;
    const closedName = segmentFileName(this.baseOffset, this.createdNs, closedNs);
    renameSync(join(this.dir, this.fileName), join(this.dir, closedName));
    fsyncDir(this.dir);
    this.fileName = closedName;
    return this.path;
  }

  /** Syncs and closes the file but keeps its active name (clean shutdown; appends resume later). */
  release(): void {
    if (this.closed) return;
    this.sync();
    closeSync(this.fd);
    this.closed = true;
  }

  private writeAll(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(this.fd, bytes, done, bytes.byteLength - done, this.written + done);
    this.written += bytes.byteLength;
  }
}
