import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ARCHIVE_HEADER_SIZE, decodeArchiveHeader, decodeManifest, encodeArchiveHeader, exportTopic, runImportTopic, type ArchiveManifest, type CommandIO } from "@lance/cli";
import { TopicReader, TopicWriter, catalogPath, readCatalog, rebuildTopicIndexes } from "@lance/index";
import { crc32c, encodeBatch, listTopicSegments, readTopicMetadata, writeTopicMetadata } from "@lance/segment-format";
import { createServer, type Logger } from "@lance/server";
import { LNC, lnc, lncAsync, sh } from "./test-lnc.js";

const T0 = 1_700_000_000_000_000_000n;




const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `lnc-archive-${prefix}-`));

/**
 * Topic `name` in `data` over several segments, with payloads of varied sizes and flags, an
 * oldest segment removed by retention (log start > 0), a middle segment quarantined (a gap
 * between segments) and an append past the end (a gap inside the active segment).
 */
function populate(data: string, name = "orders", topicDirPath = join(data, "segments", name)) {
  const dir = topicDirPath;
  mkdirSync(dir, { recursive: true });
  writeTopicMetadata(dir, { id: 7, name, created_at: 1_700_000_000, topic_epoch: 3, auth: null, retention: { max_bytes: 5_000_000, max_age_secs: 86_400 } });
  let t = T0;
  const clock = () => (t += 1_000_000n);
  const batch = (i: number) => ({
    payload: randomBytes(10 + ((i * 37) % 180)),
    recordCount: 1 + (i % 4),
    firstTimestampNs: T0 + BigInt(i) * 1000n,
    lastTimestampNs: T0 + BigInt(i) * 1000n + 500n,
    flags: i % 5 === 0 ? 1 : 0,
  });
  let w = TopicWriter.open(dir, { maxSegmentBytes: 1200, clock });
  for (let i = 0; i < 40; i++) w.append(batch(i));
  const sizes = listTopicSegments(dir).segments.map((s) => statSync(join(dir, s.fileName)).size);
  expect(w.enforceRetention({ maxBytes: sizes.reduce((a, b) => a + b, 0) - 1, maxAgeMs: null })).toHaveLength(1);
  w.close();
  const segs = listTopicSegments(dir).segments;
  expect(segs.length).toBeGreaterThanOrEqual(4);
  const quarantined = segs[1]!;
  mkdirSync(join(data, "quarantine", name), { recursive: true });
  renameSync(join(dir, quarantined.fileName), join(data, "quarantine", name, quarantined.fileName));
  rebuildTopicIndexes(dir);
  w = TopicWriter.open(dir, { maxSegmentBytes: 1200, clock });
  w.rotate();
  w.append(batch(40));
  w.append(batch(41), w.nextOffset + 5);
  w.append(batch(42));
  w.close();
  // The writer's catalog does not list a gap inside the active segment; a rebuild does.
  rebuildTopicIndexes(dir);
  return { dir, quarantined };
}

interface TopicContents {
  logStart: number;
  next: number;
  batches: Array<{ base: number; count: number; first: bigint; last: bigint; flags: number; payload: string }>;
  skipped: Array<{ from: number; to: number }>;
  gaps: Array<{ from: number; to: number; reason: string }>;
}

/** Every batch of a topic through TopicReader, with the ranges it reports skipped, and the catalog's gaps. */
async function readTopic(dir: string): Promise<TopicContents> {
  const cat = readCatalog(catalogPath(dir));
  const reader = new TopicReader(dir);
  const out: TopicContents = { logStart: cat.logStartOffset, next: cat.nextOffset, batches: [], skipped: [], gaps: [] };
  for (const e of cat.entries) if (e.kind === "gap") out.gaps.push({ from: e.from, to: e.to, reason: e.reason });
  let offset = cat.logStartOffset;
  while (offset < cat.nextOffset) {
    const r = await reader.read(offset, 1 << 20);
    if (r.skipped) out.skipped.push(r.skipped);
    if (r.batches.length === 0) {
      out.skipped.push({ from: offset, to: cat.nextOffset });
      break;
    }
    for (const b of r.batches) {
      out.batches.push({ base: b.baseOffset, count: b.recordCount, first: b.firstTimestampNs, last: b.lastTimestampNs, flags: b.flags, payload: b.payload.toString("hex") });
    }
    offset = r.nextOffset;
  }
  await reader.close();
  return out;
}

/** Every file and directory under `root` with its bytes: what "left unchanged" is checked against. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) {
        out[relative(root, p) + "/"] = "dir";
        walk(p);
      } else out[relative(root, p)] = readFileSync(p).toString("base64");
    }
  };
  walk(root);
  return out;
}

const captureIO = (): CommandIO & { text: () => string } => {
  let text = "";
  return { out: (t) => (text += t + "\n"), err: (t) => (text += t + "\n"), interactive: false, text: () => text };
};

/** Imports in-process (for the exhaustive loops); returns the exit code and what was printed. */
async function importInProcess(data: string, input: string, name = "restored") {
  const io = captureIO();
  try {
    const code = await runImportTopic({ path: data, name, input }, io);
    return { code, text: io.text() };
  } catch (err) {
    return { code: 2, text: String((err as Error).message) };
  }
}

/** Rewrites an archive with a different manifest (checksums recomputed: only the content is wrong). */
function withManifest(archive: Buffer, edit: (m: ArchiveManifest) => void, editData?: (data: Buffer, m: ArchiveManifest) => Buffer): Buffer {
  const len = archive.readUInt32LE(8);
  const m = JSON.parse(archive.subarray(ARCHIVE_HEADER_SIZE, ARCHIVE_HEADER_SIZE + len).toString("utf8")) as ArchiveManifest;
  edit(m);
  const manifest = Buffer.from(JSON.stringify(m));
  const header = Buffer.alloc(ARCHIVE_HEADER_SIZE);
  archive.copy(header, 0, 0, 8);
  header.writeUInt32LE(manifest.byteLength, 8);
  header.writeUInt32LE(crc32c(manifest), 12);
  header.writeUInt32LE(m.parts.length, 16);
  header.writeUInt32LE(crc32c(header.subarray(0, 20)), 20);
  const data = archive.subarray(ARCHIVE_HEADER_SIZE + len);
  return Buffer.concat([header, manifest, editData ? editData(Buffer.from(data), m) : data]);
}

describe("lnc export-topic / import-topic (built binary, real files)", () => {
  it("round trip: offsets, timestamps, flags, payloads, gaps and retention come back identical; verify-data passes", async () => {
    const src = tmp("src");
    const { dir } = populate(src);
    expect(lnc("verify-data", "--path", src, "--topic", "orders").code).toBe(0);
    const before = await readTopic(dir);
    expect(before.logStart).toBeGreaterThan(0);
    expect(before.gaps.map((g) => g.reason)).toEqual(["quarantined", "in-segment"]);

    const backup = join(tmp("backup"), "orders.lance");
    const exported = lnc("export-topic", "--path", src, "--topic", "orders", "--output", backup, "--json");
    expect(exported.code).toBe(0);
    const report = JSON.parse(exported.out) as { log_start_offset: number; end_offset: number; records: number; gaps: unknown[] };
    expect(report).toMatchObject({ log_start_offset: before.logStart, end_offset: before.next, records: before.batches.reduce((n, b) => n + b.count, 0) });
    expect(report.gaps).toHaveLength(2);
    expect(readdirSync(dirname(backup))).toEqual(["orders.lance"]);

    const dst = tmp("dst");
    const imported = lnc("import-topic", "--path", dst, "--name", "orders-restored", "--input", backup);
    expect(imported.code).toBe(0);
    expect(imported.out).toContain("✓ Every checksum verified");
    const restoredDir = join(dst, "segments", "orders-restored");
    const after = await readTopic(restoredDir);
    expect(after).toEqual(before);
    expect(after.gaps.map((g) => g.reason)).toEqual(["quarantined", "in-segment"]);
    // Same segments, byte for byte, under the same names.
    for (const s of listTopicSegments(dir).segments) expect(readFileSync(join(restoredDir, s.fileName))).toEqual(readFileSync(join(dir, s.fileName)));
    expect(readTopicMetadata(restoredDir)).toMatchObject({ id: 1, name: "orders-restored", created_at: 1_700_000_000, topic_epoch: 3, retention: { max_bytes: 5_000_000, max_age_secs: 86_400 } });
    const verified = lnc("verify-data", "--path", dst, "--topic", "orders-restored");
    expect(verified.code).toBe(0);
    expect(verified.out).toContain("✓ All data verified");

    // New appends continue after the exported end: offsets are never reused.
    const w = TopicWriter.open(restoredDir);
    expect(w.nextOffset).toBe(before.next);
    w.close();

    // An existing name is refused; --force moves the old directory aside and says where.
    const snapshot = tree(dst);
    const refused = lnc("import-topic", "--path", dst, "--name", "orders-restored", "--input", backup);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain("[LNC_TOPIC_EXISTS]");
    expect(tree(dst)).toEqual(snapshot);
    const oldMeta = readFileSync(join(restoredDir, "metadata.json"));
    const forced = lnc("import-topic", "--path", dst, "--name", "orders-restored", "--input", backup, "--force", "--json");
    expect(forced.code).toBe(0);
    const moved = (JSON.parse(forced.out) as { replaced: string; id: number }).replaced;
    expect(moved.startsWith(join(dst, "replaced", "orders-restored-"))).toBe(true);
    expect(readFileSync(join(moved, "metadata.json"))).toEqual(oldMeta);
    expect(readTopicMetadata(restoredDir).id).toBe(2);
    expect(await readTopic(restoredDir)).toEqual(before);
  });

  it("exports a deposed leader's divergent/ suffix (no metadata.json) and imports it as a topic", async () => {
    const data = tmp("div");
    const div = join(data, "divergent", "orders");
    mkdirSync(div, { recursive: true });
    const w = TopicWriter.open(div, { maxSegmentBytes: 600 });
    for (let i = 0; i < 12; i++) w.append({ payload: Buffer.from(`unreplicated ${i}`), recordCount: 1, firstTimestampNs: T0 + BigInt(i) }, i === 0 ? 500 : undefined);
    w.close();
    const before = await readTopic(div);
    expect(before.batches[0]!.base).toBe(500);

    const out = join(tmp("divout"), "stale_data.lance");
    expect(lnc("export-topic", "--path", data, "--topic", "orders", "--output", out).code).toBe(2);
    const r = lnc("export-topic", "--path", data, "--topic", "orders", "--divergent", "--output", out);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Offsets:   500..511");
    const imp = lnc("import-topic", "--path", data, "--name", "orders-divergent", "--input", out, "--json");
    expect(imp.code).toBe(0);
    expect(JSON.parse(imp.out)).toMatchObject({ source_kind: "divergent", records: 12, log_start_offset: 500, end_offset: 512 });
    expect(await readTopic(join(data, "segments", "orders-divergent"))).toEqual(before);
    expect(lnc("verify-data", "--path", data, "--topic", "orders-divergent").code).toBe(0);
  });

  it("export while a writer appends, rotates and deletes by retention: the archive is the topic as it was at the start", async () => {
    const data = tmp("live");
    const dir = join(data, "segments", "live");
    mkdirSync(dir, { recursive: true });
    writeTopicMetadata(dir, { id: 1, name: "live", created_at: 1_700_000_000, topic_epoch: 1, auth: null, retention: null });
    const w = TopicWriter.open(dir, { maxSegmentBytes: 800 });
    for (let i = 0; i < 30; i++) w.append({ payload: Buffer.from(`before ${i}`), recordCount: 2, firstTimestampNs: T0 + BigInt(i) });
    w.sync();
    const before = await readTopic(dir);
    const end = w.nextOffset;
    // A torn append in flight at the end of the active segment is left out.
    appendFileSync(w.activeSegmentPath!, Buffer.from([0x55, 0, 0, 0, 1, 2, 3]));
    let calls = 0;
    const out = join(tmp("liveout"), "live.lance");
    const report = exportTopic({ path: data, topic: "live", output: out }, () => {
      calls++;
      // Between the export's reads: more appends (the first overwrites the torn bytes), a
      // rotation, and retention removing every closed segment.
      w.append({ payload: Buffer.from(`during ${calls}`), recordCount: 1, firstTimestampNs: T0 + 1000n + BigInt(calls) });
      w.flush();
      if (calls === 2) w.rotate();
      if (calls === 3) w.enforceRetention({ maxBytes: 1, maxAgeMs: null });
    });
    w.close();
    expect(calls).toBeGreaterThan(3);
    expect(report).toMatchObject({ log_start_offset: 0, end_offset: end, records: end });
    expect(report.notes.join("\n")).toMatch(/7 bytes after byte \d+ are an append in progress/);
    const dst = tmp("livedst");
    const imp = lnc("import-topic", "--path", dst, "--name", "live", "--input", out);
    expect(imp.code).toBe(0);
    const after = await readTopic(join(dst, "segments", "live"));
    expect(after.batches).toEqual(before.batches);
    expect(after.next).toBe(end);
  });

  it("a segment being created as the export starts (no header yet) is left out, not refused", async () => {
    const data = tmp("newseg");
    const dir = join(data, "segments", "fresh");
    mkdirSync(dir, { recursive: true });
    writeTopicMetadata(dir, { id: 1, name: "fresh", created_at: 1_700_000_000, topic_epoch: 1, auth: null, retention: null });
    const w = TopicWriter.open(dir);
    for (let i = 0; i < 5; i++) w.append({ payload: Buffer.from(`r${i}`), recordCount: 1, firstTimestampNs: T0 + BigInt(i) });
    w.rotate();
    w.close();
    writeFileSync(join(dir, `5_${T0 + 99n}.lnc`), Buffer.alloc(0));
    const out = join(tmp("newsegout"), "fresh.lance");
    const r = lnc("export-topic", "--path", data, "--topic", "fresh", "--output", out, "--json");
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ end_offset: 5, records: 5, parts: 1, notes: [expect.stringContaining("still empty; not included")] });
  });

  describe("bad input is refused with a clear error and exit code, and leaves the data dir unchanged", () => {
    /** A small archive (3 batches, 2 segments) and a data dir holding another topic. */
    function fixture() {
      const src = tmp("small");
      const dir = join(src, "segments", "small");
      mkdirSync(dir, { recursive: true });
      writeTopicMetadata(dir, { id: 4, name: "small", created_at: 1_700_000_000, topic_epoch: 1, auth: null, retention: null });
      const w = TopicWriter.open(dir, { maxSegmentBytes: 90 });
      for (let i = 0; i < 3; i++) w.append({ payload: Buffer.from(`r${i}`), recordCount: 1, firstTimestampNs: T0 + BigInt(i) });
      w.close();
      const archive = join(src, "small.lance");
      exportTopic({ path: src, topic: "small", output: archive });
      // The data dir sits alone in a fresh directory, so a write beside it (../) would show.
      const jail = tmp("jail");
      const data = join(jail, "data");
      populate(data, "existing");
      return { bytes: readFileSync(archive), data, jail, work: tmp("bad") };
    }

    it("an import killed earlier left a staging directory: it is invisible (no metadata.json) and the next import removes it", async () => {
      const { bytes, data, work } = fixture();
      const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
      const stale = join(data, "segments", `.import-restored-${dead}`);
      mkdirSync(stale);
      writeFileSync(join(stale, "0_1.lnc"), "partial");
      expect(JSON.parse(lnc("list-topics", "--path", data, "--json").out).find((t: { name: string }) => t.name.startsWith(".import-"))).toMatchObject({ status: "no-metadata" });
      const file = join(work, "ok.lance");
      writeFileSync(file, bytes);
      expect(lnc("import-topic", "--path", data, "--name", "restored", "--input", file).code).toBe(0);
      expect(existsSync(stale)).toBe(false);
      expect(readdirSync(join(data, "segments")).sort()).toEqual(["existing", "restored"]);
    });

    it("every truncation of a small archive", async () => {
      const { bytes, data, work } = fixture();
      expect(bytes.byteLength).toBeLessThan(2000);
      const before = tree(data);
      const file = join(work, "cut.lance");
      for (let n = 0; n < bytes.byteLength; n++) {
        writeFileSync(file, bytes.subarray(0, n));
        const r = await importInProcess(data, file);
        expect(r.code, `truncated at ${n}: ${r.text}`).toBe(1);
        expect(r.text).toMatch(n < 4 ? /LNC_ARCHIVE_FOREIGN/ : /LNC_ARCHIVE_CORRUPT/);
        expect(r.text).toContain("Nothing was imported");
      }
      expect(tree(data)).toEqual(before);
      writeFileSync(file, bytes.subarray(0, bytes.byteLength - 3));
      const cli = lnc("import-topic", "--path", data, "--name", "restored", "--input", file);
      expect(cli.code).toBe(1);
      expect(cli.err).toMatch(/^Error: .*is truncated: \d+ bytes, its manifest describes \d+ \[LNC_ARCHIVE_CORRUPT\]/);
      writeFileSync(file, bytes);
      expect((await importInProcess(data, file)).code).toBe(0);
    });

    it("random bit flips (fast-check), and trailing bytes", async () => {
      const { bytes, data, work } = fixture();
      const before = tree(data);
      const file = join(work, "flipped.lance");
      await fc.assert(
        fc.asyncProperty(fc.nat(bytes.byteLength * 8 - 1), async (bit) => {
          const b = Buffer.from(bytes);
          b[bit >> 3]! ^= 1 << (bit & 7);
          writeFileSync(file, b);
          const r = await importInProcess(data, file);
          expect(r.code, r.text).toBe(1);
          expect(r.text).toMatch(/LNC_ARCHIVE_(CORRUPT|FOREIGN|VERSION)/);
        }),
        { numRuns: 250 },
      );
      writeFileSync(file, Buffer.concat([bytes, Buffer.from([0])]));
      expect((await importInProcess(data, file)).text).toMatch(/1 bytes after the last part.*LNC_ARCHIVE_CORRUPT/);
      expect(tree(data)).toEqual(before);
      // Data-area flips through the binary: the part that fails is named.
      const b = Buffer.from(bytes);
      b[b.byteLength - 2]! ^= 0x10;
      writeFileSync(file, b);
      const cli = lnc("import-topic", "--path", data, "--name", "restored", "--input", file);
      expect(cli.code).toBe(1);
      expect(cli.err).toMatch(/part \d+_\d+(-\d+)?\.lnc \(offsets \d+\.\.\d+\) fails its checksum.*\[LNC_ARCHIVE_CORRUPT\]/);
      expect(tree(data)).toEqual(before);
    });

    it("foreign files: empty, random, a segment file, JSON, an upstream v0 export", async () => {
      const { data, work } = fixture();
      const before = tree(data);
      const seg = listTopicSegments(join(data, "segments", "existing")).segments[0]!;
      const upstreamHeader = Buffer.from(JSON.stringify({ exported_at: "2024-01-01T00:00:00+00:00", topic_id: 1, version: 1, with_metadata: false }));
      const upstream = Buffer.concat([Buffer.alloc(4), upstreamHeader, Buffer.alloc(8)]);
      upstream.writeUInt32LE(upstreamHeader.byteLength, 0);
      const foreign: Record<string, Buffer> = {
        empty: Buffer.alloc(0),
        random: randomBytes(4096),
        segment: readFileSync(join(data, "segments", "existing", seg.fileName)),
        json: Buffer.from('{"name":"orders"}'),
        upstream,
      };
      for (const [what, content] of Object.entries(foreign)) {
        const file = join(work, `${what}.lance`);
        writeFileSync(file, content);
        const r = lnc("import-topic", "--path", data, "--name", "restored", "--input", file);
        expect(r.code, what).toBe(1);
        expect(r.err, what).toContain("is not a LANCE topic archive");
        expect(r.err, what).toContain("[LNC_ARCHIVE_FOREIGN]");
      }
      const missing = lnc("import-topic", "--path", data, "--name", "restored", "--input", join(work, "nope.lance"));
      expect(missing.code).toBe(2);
      expect(lnc("import-topic", "--path", data, "--name", "../escape", "--input", join(work, "json.lance")).code).toBe(2);
      expect(tree(data)).toEqual(before);
    });

    it("manifests with path-like names or claims the data does not back (checksums valid) are refused; nothing is written anywhere", async () => {
      const { bytes, data, jail, work } = fixture();
      const outside = tree(jail);
      const before = tree(data);
      const cases: Array<[string, Buffer, RegExp]> = [
        ["part file ../", withManifest(bytes, (m) => (m.parts[0]!.file = "../../../escape.lnc")), /parts\[0\]\.file "\.\.\/\.\.\/\.\.\/escape\.lnc" is not the segment name/],
        ["part file absolute", withManifest(bytes, (m) => (m.parts[1]!.file = "/tmp/escape.lnc")), /parts\[1\]\.file/],
        ["topic name", withManifest(bytes, (m) => (m.topic!.name = "../../etc")), /topic\.name: topic name "\.\.\/\.\.\/etc" may only use/],
        ["source topic", withManifest(bytes, (m) => (m.source.topic = "a/b")), /source topic/],
        ["record count", withManifest(bytes, (m) => { m.parts[0]!.records += 1; m.records += 1; }), /holds \d+ batches \/ \d+ records, the manifest says/],
        ["invented gap", withManifest(bytes, (m) => m.gaps.push({ from: m.parts[0]!.base_offset, to: m.parts[0]!.base_offset + 1, reason: "missing" })), /manifest gaps .* do not match the data/],
        ["duplicate part", withManifest(bytes, (m) => { m.parts.push({ ...m.parts[1]! }); }, (d, m) => Buffer.concat([d, d.subarray(d.byteLength - m.parts[1]!.bytes)])), /appears twice/],
        [
          "garbage data with a matching CRC",
          withManifest(
            bytes,
            (m) => (m.parts[0]!.crc32c = crc32c(Buffer.alloc(m.parts[0]!.bytes, 0x61)).toString(16).padStart(8, "0")),
            (d, m) => Buffer.concat([Buffer.alloc(m.parts[0]!.bytes, 0x61), d.subarray(m.parts[0]!.bytes)]),
          ),
          /is not a valid sequence of record batches/,
        ],
      ];
      for (const [what, content, why] of cases) {
        const file = join(work, "crafted.lance");
        writeFileSync(file, content);
        const r = lnc("import-topic", "--path", data, "--name", "restored", "--input", file);
        expect(r.code, `${what}: ${r.err}`).toBe(1);
        expect(r.err, what).toMatch(why);
        expect(r.err, what).toContain("[LNC_ARCHIVE_INVALID]");
      }
      expect(tree(data)).toEqual(before);
      expect(tree(jail)).toEqual(outside);
      expect(existsSync("/tmp/escape.lnc")).toBe(false);
    });
  });
});

describe("docs/archive-format.md", () => {
  it("the worked example is what the encoder produces", () => {
    const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "docs", "archive-format.md"), "utf8");
    const block = (tag: string) => [...doc.matchAll(/```[a-z]+ (\S+)\n([\s\S]*?)```/g)].find((m) => m[1] === tag)![2]!;
    const manifest = Buffer.from(block("archive-manifest").trim());
    const header = Buffer.from(block("archive-header").replace(/\s+/g, ""), "hex");
    expect(manifest.byteLength).toBe(644);
    expect(encodeArchiveHeader(manifest, 1)).toEqual(header);
    const m = decodeManifest(manifest, decodeArchiveHeader(header, "doc"), "doc");
    const batch = encodeBatch(0, { payload: Buffer.from("hi\nyo"), recordCount: 2, firstTimestampNs: T0 });
    expect(m.parts[0]).toMatchObject({ bytes: batch.byteLength, crc32c: crc32c(batch).toString(16).padStart(8, "0") });
    expect(24 + manifest.byteLength + batch.byteLength).toBe(713);
  });
});

const silent: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => silent };
const hasJq = spawnSync("jq", ["--version"]).status === 0;

describe("backup and restore of a running server (runbook 7.1 / 7.2)", () => {
  it("the backup loop exports every topic of a live server; wipe, import loop, restart: every record and offset is back", async () => {
    const data = tmp("srv");
    const backup = tmp("srvbackup");
    let server = createServer({ dataDir: data, listen: { host: "127.0.0.1", port: 0 }, healthAddr: null, metricsAddr: null, logger: silent });
    await server.start();
    const consumed: Record<string, string> = {};
    try {
      let a = server.address();
      let S = `${a.host}:${a.port}`;
      const topics = ["orders", "payments", "audit-log"];
      for (const [i, t] of topics.entries()) {
        expect((await lncAsync(["create-topic", "--server", S, "--name", t])).code).toBe(0);
        const lines = Array.from({ length: 50 + i * 40 }, (_, j) => `${t} record ${j} ${"x".repeat((j * 7) % 50)}`);
        expect((await lncAsync(["produce", "--server", S, "--topic", t], lines.join("\n") + "\n")).code).toBe(0);
        expect((await lncAsync(["produce", "--server", S, "--topic", t, "--data", `${t} last`])).code).toBe(0);
      }
      for (const t of topics) consumed[t] = (await lncAsync(["consume", "--server", S, "--topic", t, "--json"])).out;

      // Runbook 7.1, with /data/lance and /backup substituted; the server keeps running.
      const LNCCMD = `"${process.execPath}" "${LNC}"`;
      const names = hasJq ? `$(${LNCCMD} list-topics --server ${S} | jq -r '.[].name')` : topics.join(" ");
      const loop = await sh(`set -e; lnc() { ${LNCCMD} "$@"; }
for topic in ${names}; do
    lnc export-topic --path ${data} --topic "$topic" --output "${backup}/\${topic}.lance"
done`);
      expect(loop.code, loop.err).toBe(0);
      expect(readdirSync(backup).sort()).toEqual(topics.map((t) => `${t}.lance`).sort());

      await server.stop();
      rmSync(data, { recursive: true, force: true });
      mkdirSync(data);
      // Runbook 7.2 for every archive, then a restart loads the topics.
      const restore = await sh(`set -e; lnc() { ${LNCCMD} "$@"; }
for f in ${backup}/*.lance; do
    topic=$(basename "$f" .lance)
    lnc import-topic --path ${data} --name "$topic" --input "$f"
    lnc verify-data --path ${data} --topic "$topic"
done`);
      expect(restore.code, restore.err + restore.out).toBe(0);

      server = createServer({ dataDir: data, listen: { host: "127.0.0.1", port: 0 }, healthAddr: null, metricsAddr: null, logger: silent });
      await server.start();
      a = server.address();
      S = `${a.host}:${a.port}`;
      for (const t of topics) {
        const back = await lncAsync(["consume", "--server", S, "--topic", t, "--json"]);
        expect(back.code).toBe(0);
        expect(back.out).toBe(consumed[t]);
        expect(back.out.trim().split("\n").length).toBeGreaterThan(50);
      }
      // Importing into the running server works but is seen only after a restart, and says so.
      const live = await lncAsync(["import-topic", "--path", data, "--name", "orders-copy", "--input", join(backup, "orders.lance")]);
      expect(live.code).toBe(0);
      expect(live.err).toMatch(/a server \(pid \d+\) is running on .*orders-copy appears after a restart/);
      expect((await lncAsync(["list-topics", "--server", S, "--json"])).out).not.toContain("orders-copy");
      await server.stop();
      server = createServer({ dataDir: data, listen: { host: "127.0.0.1", port: 0 }, healthAddr: null, metricsAddr: null, logger: silent });
      await server.start();
      a = server.address();
      S = `${a.host}:${a.port}`;
      expect((await lncAsync(["consume", "--server", S, "--topic", "orders-copy", "--json"])).out).toBe(consumed.orders);

      // The restored topics take new writes at the next offset.
      expect((await lncAsync(["produce", "--server", S, "--topic", "orders", "--data", "after restore"])).code).toBe(0);
      const tail = await lncAsync(["consume", "--server", S, "--topic", "orders", "--offset", "51", "--json"]);
      expect(JSON.parse(tail.out.trim())).toEqual({ type: "record", offset: 51, value: "after restore" });
    } finally {
      await server.stop().catch(() => undefined);
    }
  });
});
