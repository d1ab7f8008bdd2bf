import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TopicWriter, verifyTopic } from "@lance/index";
import { crc32c, writeTopicMetadata } from "@lance/segment-format";
import { SNAPSHOT_INSTALL_DIR, SnapshotStaging, captureSnapshot, finishSnapshotInstall, swapInSnapshot, unpackSnapshot } from "./snapshot.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), "lance-snap-"));
  dirs.push(d);
  return d;
}

/** A data dir with topic `orders`: 300 batches over several segments, and consumer offsets. */
function leaderData(): string {
  const data = temp();
  const dir = join(data, "segments", "orders");
  mkdirSync(dir, { recursive: true });
  writeTopicMetadata(dir, { id: 1, name: "orders", created_at: 1, topic_epoch: 1, auth: null, retention: null });
  const w = TopicWriter.open(dir, { maxSegmentBytes: 8192 });
  for (let i = 0; i < 300; i++) w.append({ payload: Buffer.from(`record-${i}`.padEnd(64, ".")), recordCount: 1, firstTimestampNs: BigInt(i), flags: 0 });
  w.flush();
  w.close();
  writeFileSync(join(data, "consumer-offsets.json"), JSON.stringify({ "1/7": "42" }));
  return data;
}

/** Streams a captured snapshot in `chunk`-byte pieces into a follower's staging file, as Raft would. */
function stream(data: string, follower: string, chunk = 1000) {
  const snap = captureSnapshot(12, 3, [{ dir: join(data, "segments", "orders"), name: "orders" }], join(data, "consumer-offsets.json"));
  const staging = new SnapshotStaging(follower);
  for (let off = 0; off < snap.meta.size; off += chunk) staging.write(snap.meta, off, snap.read(off, chunk));
  staging.sync();
  staging.closeFd();
  snap.close();
  return { meta: snap.meta, staged: staging.stagedPath };
}

const openTopic = (dir: string) => TopicWriter.open(dir).close();

describe("snapshots of the segment files", () => {
  it("a follower installs exactly the leader's files, checked, and keeps nothing of its own", () => {
    const leader = leaderData();
    const follower = temp();
    mkdirSync(join(follower, "segments", "stale"), { recursive: true });
    writeFileSync(join(follower, "consumer-offsets.json"), "{}");
    const { meta, staged } = stream(leader, follower);
    unpackSnapshot(follower, staged, meta, openTopic);
    // Nothing live changed before the swap.
    expect(readdirSync(join(follower, "segments"))).toEqual(["stale"]);
    expect(swapInSnapshot(follower)).toEqual({ index: 12, term: 3 });
    finishSnapshotInstall(follower);
    expect(readdirSync(join(follower, "segments"))).toEqual(["orders"]);
    const segs = (d: string) => readdirSync(join(d, "segments", "orders")).filter((f) => f.endsWith(".lnc")).sort();
    expect(segs(follower)).toEqual(segs(leader));
    for (const f of segs(leader)) expect(readFileSync(join(follower, "segments", "orders", f)).equals(readFileSync(join(leader, "segments", "orders", f)))).toBe(true);
    expect(verifyTopic(join(follower, "segments", "orders")).totals).toMatchObject({ records: 300, errors: 0 });
    expect(JSON.parse(readFileSync(join(follower, "consumer-offsets.json"), "utf8"))).toEqual({ "1/7": "42" });
    expect(existsSync(join(follower, SNAPSHOT_INSTALL_DIR))).toBe(false);
  });

  it("the capture is the files as they were: later appends and a retention delete do not change the stream", () => {
    const leader = leaderData();
    const dir = join(leader, "segments", "orders");
    const snap = captureSnapshot(12, 3, [{ dir, name: "orders" }], join(leader, "consumer-offsets.json"));
    const before = Buffer.concat([snap.read(0, snap.meta.size)]);
    const w = TopicWriter.open(dir, { maxSegmentBytes: 8192 });
    for (let i = 0; i < 50; i++) w.append({ payload: Buffer.alloc(64, 1), recordCount: 1, firstTimestampNs: 1n, flags: 0 });
    w.flush();
    w.enforceRetention({ maxBytes: 1, maxAgeMs: null });
    w.close();
    expect(Buffer.compare(snap.read(0, snap.meta.size), before)).toBe(0);
    snap.close();
  });

  it("a damaged stream is refused before anything is swapped in: manifest CRC, a bad batch, a size that does not add up", () => {
    const leader = leaderData();
    const cases: Array<[string, (staged: string, size: number) => void, RegExp]> = [
      ["manifest byte", (p) => flipAt(p, 20), /manifest CRC mismatch|unusable/],
      ["segment byte", (p, size) => flipAt(p, size - 30), /damaged|crc|CRC/],
      ["short", (p, size) => writeFileSync(p, readFileSync(p).subarray(0, size - 10)), /bytes staged/],
    ];
    for (const [name, damage, why] of cases) {
      const follower = temp();
      const { meta, staged } = stream(leader, follower);
      damage(staged, meta.size);
      expect(() => unpackSnapshot(follower, staged, meta, openTopic), name).toThrow(why);
      expect(swapInSnapshot(follower), name).toBeNull();
      expect(existsSync(join(follower, "segments")), name).toBe(false);
    }
  });

  it("a manifest naming a path outside segments/<topic>/ is refused", () => {
    const follower = temp();
    const manifest = Buffer.from(JSON.stringify({ version: 1, index: 5, term: 1, files: [{ path: "segments/../../escape", size: 1 }] }));
    const header = Buffer.alloc(16);
    Buffer.from("LNCSNAP1").copy(header);
    header.writeUInt32BE(manifest.length, 8);
    header.writeUInt32BE(crc32c(manifest), 12);
    const staged = join(follower, "snapshot.staging");
    writeFileSync(staged, Buffer.concat([header, manifest, Buffer.from("x")]));
    expect(() => unpackSnapshot(follower, staged, { index: 5, term: 1, size: 16 + manifest.length + 1 }, openTopic)).toThrow(/not segments\/<topic>\/<file>|name/);
    expect(existsSync(join(follower, "..", "escape"))).toBe(false);
  });

  it("an install interrupted after the swap started completes on the next start, and repeating it changes nothing", () => {
    const leader = leaderData();
    const follower = temp();
    const { meta, staged } = stream(leader, follower);
    unpackSnapshot(follower, staged, meta, openTopic);
    expect(swapInSnapshot(follower)).toEqual({ index: 12, term: 3 });
    // "Crash" before finishSnapshotInstall: the marker is still there; a restart runs the swap again.
    expect(swapInSnapshot(follower)).toEqual({ index: 12, term: 3 });
    finishSnapshotInstall(follower);
    expect(verifyTopic(join(follower, "segments", "orders")).totals).toMatchObject({ records: 300, errors: 0 });
    expect(JSON.parse(readFileSync(join(follower, "consumer-offsets.json"), "utf8"))).toEqual({ "1/7": "42" });
  });
});

function flipAt(path: string, at: number): void {
  const b = readFileSync(path);
  b[at] = b[at]! ^ 0xff;
  writeFileSync(path, b);
}
