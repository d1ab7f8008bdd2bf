/**
 * The recovery runbook (RecoveryProcedures.md) as an executable test, for every section that
 * a standalone server can run. Each section sets its symptom up for real on a topic written
 * through a running `lance`, runs the runbook's command lines as written (through `sh`, only
 * `/data/lance`, `/backup`, `<topic_name>`, `<segment>`, ... substituted) and checks the outcome
 * docs/operations.md documents. `systemctl start|restart lance` is `startLance` (same binary,
 * same data dir or config). The cluster sections are in runbook-cluster.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { killAllLance, startLance, type RunningLance } from "./test-lance.js";
import { consumeJson, createTopic, produce, runbook, segments, size, substitute, tempRoot, value } from "./test-runbook.js";

afterEach(killAllLance);

/**
 * Step → the runbook's command line, verbatim from RecoveryProcedures.md (checked against the
 * file below when it is present). `cmd("2.1/verify")` returns the line.
 */
const RUNBOOK: Record<string, string> = {
  "2.1/verify": "lnc verify-data --path /data/lance --topic <topic_name>",
  "2.1/repair": "lnc repair --path /data/lance/segments/<topic_name>/<segment>.lnc",
  "2.1/scan": "lnc scan --path /data/lance/segments/<topic_name>/<segment>.lnc",
  "2.1/rebuild": "lnc rebuild-index --path /data/lance/segments/<topic_name>",
  "2.2/rebuild": "lnc rebuild-index --path /data/lance/segments/<topic_name>",
  "2.2/inspect": "lnc inspect-index --path /data/lance/segments/<topic_name>/index.idx",
  "2.3/backup": "cp -r /data/lance /data/lance.backup",
  "2.3/repair": "lnc repair --path /data/lance/wal",
  "2.3/skip": "lnc repair --path /data/lance/wal --skip-corrupt",
  "2.3/start": "systemctl start lance",
  "3.1/verify": "lnc verify-data --path /data/lance --topic <topic_name>",
  "3.1/fail-fast": "lnc verify-data --path /data/lance --topic <topic_name> --fail-fast",
  "3.2/scan": "lnc scan --path /data/lance/segments/<topic_name>/<segment>.lnc",
  "3.3/cron": "0 3 * * * /usr/local/bin/lnc verify-data --path /data/lance --topic <topic_name> >> /var/log/lance-verify.log 2>&1",
  "4.1/scan": "lnc scan --path /data/lance/segments/<topic_name>/<segment>.lnc",
  "4.1/repair": "lnc repair --path /data/lance/segments/<topic_name>/<segment>.lnc",
  "4.2/mv": "mv /data/lance/segments/<topic_name>/<segment>.lnc /data/lance/quarantine/",
  "4.2/rebuild": "lnc rebuild-index --path /data/lance/segments/<topic_name>",
  "6.2/standalone": "lance --standalone --data-dir /data/lance",
  "6.2/import": "lnc import-topic --path /data/lance --name <topic_name> --input /backup/topic.lance",
  "6.1/wipe": "rm -rf /data/lance/*",
  "7.1/export": "lnc export-topic --path /data/lance --topic <topic_name> --output /backup/<topic_name>.lance",
  "7.1/loop": [
    "for topic in $(lnc list-topics --server localhost:1992 | jq -r '.[].name'); do",
    '    lnc export-topic --path /data/lance --topic "$topic" --output "/backup/${topic}.lance"',
    "done",
  ].join("\n"),
  "7.2/import": "lnc import-topic --path /data/lance --name <topic_name> --input /backup/<topic_name>.lance",
  "7.2/verify": "lnc verify-data --path /data/lance --topic <topic_name>",
  "8.2/echo": 'echo "read_only = true" >> /etc/lance/lance.toml',
  "8.2/restart": "systemctl restart lance",
};
const cmd = (step: string): string => {
  const line = RUNBOOK[step];
  if (line === undefined) throw new Error(`no runbook step ${step}`);
  return line;
};

const RUNBOOK_MD = "/work/shared/runbook/RecoveryProcedures.md";
const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const HAVE_JQ = spawnSync("sh", ["-c", "command -v jq"]).status === 0;
const TOPIC = "orders";

/** A small-segment config (packaging/lance.toml's keys) so 400 records make three segments. */
function smallToml(data: string): string {
  return [
    "node_id = 0",
    `data_dir = "${data}"`,
    'replication_mode = "l1"',
    "",
    "[wal]",
    "size = 1048576",
    "",
    "[ingestion]",
    "max_payload_size = 65536",
    "",
    "[io]",
    "segment_max_size = 4096",
    "sparse_index_interval = 512",
    "",
  ].join("\n");
}

interface Section {
  root: string;
  data: string;
  toml: string;
  topicDir: string;
  acked: string[];
  /** The running server (replaced when a test restarts it). */
  lance: RunningLance;
  subst: Record<string, string>;
}

/**
 * A data dir with topic `orders` written through a running server: 40 acknowledged batches of
 * 10 records (offsets 0..399; segments 0..189, 190..379 closed, 380..399 active). The server
 * is left running.
 */
async function populated(tag: string): Promise<Section> {
  const { root, data } = tempRoot(tag);
  const toml = join(root, "lance.toml");
  writeFileSync(toml, smallToml(data));
  const lance = await startLance(["--config", toml]);
  const id = await createTopic(lance.port, TOPIC);
  const acked = await produce(lance.port, id, TOPIC, 40, 10);
  const topicDir = join(data, "segments", TOPIC);
  return {
    root,
    data,
    toml,
    topicDir,
    acked,
    lance,
    subst: { "/data/lance": data, "/backup": join(root, "backup"), "<topic_name>": TOPIC, "/etc/lance/lance.toml": toml },
  };
}

async function stop(l: RunningLance): Promise<number | null> {
  l.proc.kill("SIGTERM");
  return l.exited;
}

const stem = (file: string): string => basename(file, ".lnc");

interface ScanJson {
  batches: Array<{ position: number; size: number; baseOffset: number; nextOffset: number }>;
  records?: Array<{ offset: number; size: number; kind: string; index: number }>;
  lastIndex?: number;
}

async function scanJson(path: string): Promise<ScanJson> {
  const r = await runbook(`lnc scan --path '${path}' --json --limit 0`, {});
  return JSON.parse(r.out) as ScanJson;
}

function flip(path: string, at: number, n = 4): void {
  const b = readFileSync(path);
  for (let i = at; i < at + n; i++) b[i] = b[i]! ^ 0xff;
  writeFileSync(path, b);
}

/** Every consumed record carries the value written at its offset. */
function expectValuesMatchOffsets(records: Array<{ offset: number; value: string }>): void {
  for (const r of records) expect(r.value).toBe(value(TOPIC, r.offset));
}

describe("runbook text", () => {
  it.skipIf(!existsSync(RUNBOOK_MD))("every command line this test runs appears verbatim in RecoveryProcedures.md", () => {
    const md = readFileSync(RUNBOOK_MD, "utf8");
    for (const [step, line] of Object.entries(RUNBOOK)) expect(md, step).toContain(line);
  });
});

describe("runbook 2.1 corrupt segment", () => {
  it("verify-data finds file and byte; mid-file repair refused, --skip-corrupt; scan; rebuild-index; consumers read past a visible gap", { timeout: 60_000 }, async () => {
    const s = await populated("2-1");
    const segs = segments(s.topicDir);
    expect(segs.length).toBe(3);
    const seg = join(s.topicDir, segs[1]!);
    const subst = { ...s.subst, "<segment>": stem(seg) };
    // The symptom: bytes flipped in the payload of a batch in the middle of a closed segment.
    const { batches } = await scanJson(seg);
    const bad = batches[Math.floor(batches.length / 2)]!;
    const segSize = size(seg);
    flip(seg, bad.position + Math.floor(bad.size / 2));
    // Consumers get every record before the damaged batch, then a CRC failure naming the file
    // and byte; the server logs the checksum mismatch (the runbook's symptom).
    const symptom = await consumeJson(s.lance.port, TOPIC);
    expect(symptom.run.code).not.toBe(0);
    expect(symptom.records.length).toBe(bad.baseOffset);
    expect(symptom.records.at(-1)!.offset).toBe(bad.baseOffset - 1);
    expect(symptom.run.err).toContain(`${seg}: checksum mismatch in batch at byte ${bad.position}`);
    expect(s.lance.logs.join("\n")).toContain(`checksum mismatch in batch at byte ${bad.position}`);
    // Repairs run with the server stopped (docs/operations.md).
    expect(await stop(s.lance)).toBe(0);

    // 1. Identify the corrupt segment: file and byte position.
    const v = await runbook(cmd("2.1/verify"), subst);
    expect(v.code, v.cmd + v.out).toBe(1);
    expect(v.out).toContain(`${seg} at byte ${bad.position}`);
    expect(v.out).toContain("LNC_CRC_MISMATCH");
    expect(v.out).toContain("✗ Verification failed with 1 error");
    // 3.1 --fail-fast on the same damage: exit 1 at the first error.
    const ff = await runbook(cmd("3.1/fail-fast"), subst);
    expect(ff.code, ff.out).toBe(1);
    expect(ff.out).toContain("Stopped at the first error (--fail-fast)");

    // 2. Repair as written: mid-file damage is refused (exit 1), naming both ways out.
    const refused = await runbook(cmd("2.1/repair"), subst);
    expect(refused.code, refused.out).toBe(1);
    expect(refused.out).toContain(`REFUSED: damage at byte ${bad.position}`);
    expect(refused.out).toContain("--skip-corrupt");
    expect(size(seg)).toBe(segSize); // unchanged

    // 3. Scan: the last valid offset before the damage.
    const sc = await runbook(cmd("2.1/scan"), subst);
    expect(sc.code, sc.out).toBe(1); // a damaged segment: exit 1, like verify-data
    expect(sc.out).toContain(`Last valid offset before the damage: ${bad.baseOffset - 1} (byte ${bad.position})`);
    expect(sc.out).toContain(`BAD crc_mismatch`);

    // "truncate to last valid offset": --truncate-at-damage would cut there (previewed only).
    const trunc = await runbook(`${cmd("2.1/repair")} --truncate-at-damage --dry-run`, subst);
    expect(trunc.code, trunc.out).toBe(0);
    expect(trunc.out).toContain(`would truncate at byte ${bad.position}`);
    expect(trunc.out).toContain(`offsets ${batches[0]!.baseOffset}..${bad.baseOffset - 1}`);
    expect(size(seg)).toBe(segSize);

    // docs/operations.md: --skip-corrupt keeps every valid batch, the damaged offsets become a gap.
    const skip = await runbook(`${cmd("2.1/repair")} --skip-corrupt`, subst);
    expect(skip.code, skip.out).toBe(0);
    expect(skip.out).toContain("Repaired.");
    expect(skip.out).toMatch(/backup: +\S+\.repair-\d+\.orig \(the original file\)/);

    // 4. Rebuild the index: the gap is recorded.
    const rb = await runbook(cmd("2.1/rebuild"), subst);
    expect(rb.code, rb.out).toBe(0);
    expect(rb.out).toContain(`gap ${bad.baseOffset}..${bad.nextOffset - 1} (in-segment)`);
    const after = await runbook(cmd("2.1/verify"), subst);
    expect(after.code, after.out).toBe(0);
    expect(after.out).toContain("✓ All data verified (1 warning)");

    // Restart; a consumer reads past the damage with a visible gap.
    const l = await startLance(["--config", s.toml]);
    const c = await consumeJson(l.port, TOPIC);
    expect(c.run.code, c.run.err).toBe(0);
    expect(c.gaps).toEqual([{ from: bad.baseOffset, to: bad.nextOffset - 1, count: bad.nextOffset - bad.baseOffset }]);
    expect(c.run.err).toContain(`offsets ${bad.baseOffset}..${bad.nextOffset - 1} of ${TOPIC} were skipped`);
    expect(c.records.map((r) => r.offset)).toEqual(
      Array.from({ length: 400 }, (_, i) => i).filter((o) => o < bad.baseOffset || o >= bad.nextOffset),
    );
    expectValuesMatchOffsets(c.records);
    expect(await stop(l)).toBe(0);
  });
});

describe("runbook 2.2 lost index file", () => {
  it("rebuild-index after every .idx and index.idx is deleted; inspect-index CRC OK; verify-data clean", { timeout: 60_000 }, async () => {
    const s = await populated("2-2");
    expect(await stop(s.lance)).toBe(0);
    for (const f of readdirSync(s.topicDir)) if (f.endsWith(".idx")) rmSync(join(s.topicDir, f));
    expect(readdirSync(s.topicDir).filter((f) => f.endsWith(".idx"))).toEqual([]);

    const rb = await runbook(cmd("2.2/rebuild"), s.subst);
    expect(rb.code, rb.out).toBe(0);
    expect(rb.out).toMatch(/index\.idx +\d+ entries: 3 segments, 0 gaps, offsets 0\.\.399/);
    expect(readdirSync(s.topicDir).filter((f) => f.endsWith(".idx")).length).toBe(4);

    const ins = await runbook(cmd("2.2/inspect"), s.subst);
    expect(ins.code, ins.out).toBe(0);
    expect(ins.out).toMatch(/CRC status: +OK/);
    expect(ins.out).toContain("Offsets:       0..399 (next offset 400)");

    const v = await runbook(cmd("2.1/verify"), s.subst);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toMatch(/✓ All data verified\n/);

    // And the server serves the topic from the rebuilt indexes.
    const l = await startLance(["--config", s.toml]);
    const c = await consumeJson(l.port, TOPIC);
    expect(c.records.map((r) => r.value)).toEqual(s.acked);
    expect(c.gaps).toEqual([]);
  });
});

describe("runbook 2.3 WAL corruption", () => {
  it("start fails with 'WAL replay failed'; cp -r backup; repair (and, on the backup, --skip-corrupt); restart; acknowledged records survive", { timeout: 60_000 }, async () => {
    const s = await populated("2-3");
    const walDir = join(s.data, "wal");
    const ckptFile = join(walDir, "checkpoint.json");
    // SIGKILL right after the last ack. The 1 s checkpoint almost never covers the last two
    // entries by then; if it did, write one more round and kill again (the damage has to be in
    // the replayed part, past the checkpoint, with a valid entry after it).
    let ckpt = 0;
    let total = 400;
    for (let round = 0; ; round++) {
      s.lance.proc.kill("SIGKILL");
      await s.lance.exited;
      ckpt = existsSync(ckptFile) ? (JSON.parse(readFileSync(ckptFile, "utf8")) as { index: number }).index : 0;
      if (ckpt < total / 10 - 1 || round === 2) break;
      s.lance = await startLance(["--config", s.toml]);
      s.acked.push(...(await produce(s.lance.port, 1, TOPIC, 10, 10, total)));
      total += 100;
    }
    // The WAL is the Raft log: leader no-ops, the topic's creation and one entry per acknowledged
    // batch. Read each ingest entry's base offset from its payload (docs/wal-format.md: 40-byte
    // frame header; docs/raft.md: command byte 1 = ingest, then topic u32, base offset u64).
    const ingests: Array<{ file: string; offset: number; size: number; index: number; base: number }> = [];
    let lastIndex = 0;
    for (const f of readdirSync(walDir).filter((n) => n.endsWith(".wal"))) {
      const path = join(walDir, f);
      const scan = await scanJson(path);
      const bytes = readFileSync(path);
      for (const r of scan.records ?? []) {
        if (r.kind !== "entry" || r.index <= ckpt) continue;
        const payload = bytes.subarray(r.offset + 40);
        if (payload[0] === 1) ingests.push({ file: path, offset: r.offset, size: r.size, index: r.index, base: payload.readUInt32LE(5) + payload.readUInt32LE(9) * 2 ** 32 });
      }
      lastIndex = Math.max(lastIndex, scan.lastIndex ?? 0);
    }
    ingests.sort((a, b) => a.index - b.index);
    // Damage mid-file: an ingest entry past the checkpoint with valid entries after it.
    expect(ingests.length, `checkpoint ${ckpt} left too few entries to corrupt mid-file`).toBeGreaterThan(2);
    const victim = ingests[Math.min(ingests.length - 2, Math.max(0, ingests.findIndex((e) => e.base >= 190)))]!;
    const k = victim.index;
    const walFile = victim.file;
    flip(walFile, victim.offset + Math.floor(victim.size / 2));

    // Symptom: the server fails to start with "WAL replay failed" and names the repair.
    const failed = await startLance(["--config", s.toml]).then(
      () => "started",
      (e: Error) => e.message,
    );
    expect(failed).toContain("lance exited with 2 before it was ready");
    expect(failed).toContain(`WAL replay failed: ${walFile} at byte ${victim.offset}`);
    expect(failed).toContain(`run: lnc repair --path ${walDir}`);

    // 1. Backup current state.
    const bk = await runbook(cmd("2.3/backup"), s.subst);
    expect(bk.code, bk.err).toBe(0);
    const backup = `${s.data}.backup`;
    expect(existsSync(join(backup, "wal", basename(walFile)))).toBe(true);

    // 2. Attempt WAL repair: truncates at the first bad entry.
    const rep = await runbook(cmd("2.3/repair"), s.subst);
    expect(rep.code, rep.out).toBe(0);
    // Counts the entries past the checkpoint (the replayed part).
    expect(rep.out).toContain(`kept:  ${k - 1 - ckpt} entries (indexes ${ckpt + 1}..${k - 1})`);
    expect(lastIndex).toBeGreaterThan(k);
    expect(rep.out).toContain("Repaired. Start the server.");

    // 4. Restart: every acknowledged record outside the dropped entries is consumable.
    const dropped = (o: number) => o >= victim.base;
    let l = await startLance(["--config", s.toml]);
    let c = await consumeJson(l.port, TOPIC);
    expectValuesMatchOffsets(c.records);
    const got = new Set(c.records.map((r) => r.value));
    for (let o = 0; o < total; o++) if (!dropped(o)) expect(got.has(value(TOPIC, o)), `offset ${o}`).toBe(true);
    expect(await stop(l)).toBe(0);

    // 3. On the backup, the other way: --skip-corrupt keeps the valid entries after the damage.
    rmSync(s.data, { recursive: true });
    cpSync(backup, s.data, { recursive: true });
    const skip = await runbook(cmd("2.3/skip"), s.subst);
    expect(skip.code, skip.out).toBe(0);
    expect(skip.out).toContain(`hole:     indexes ${k}..${k} lost`);
    l = await startLance(["--config", s.toml]);
    expect(l.logs.join("\n")).toContain("WAL entries lost to lnc repair --skip-corrupt; their offsets stay a gap");
    c = await consumeJson(l.port, TOPIC);
    expectValuesMatchOffsets(c.records);
    const got2 = new Set(c.records.map((r) => r.value));
    const lost = (o: number) => o >= victim.base && o < victim.base + 10;
    for (let o = 0; o < total; o++) if (!lost(o)) expect(got2.has(value(TOPIC, o)), `offset ${o}`).toBe(true);
    expect(await stop(l)).toBe(0);
  });
});

describe("runbook 3 data verification", () => {
  it("3.1 verify-data and --fail-fast exit 0 on a healthy topic; 3.2 scan; 3.3 the cron line's command as written", { timeout: 60_000 }, async () => {
    const s = await populated("3");
    // Verification is read-only and safe on a live server (docs/operations.md).
    const seg = join(s.topicDir, segments(s.topicDir)[0]!);
    const subst = { ...s.subst, "<segment>": stem(seg), "/usr/local/bin/lnc": "lnc", "/var/log/lance-verify.log": join(s.root, "lance-verify.log") };

    const v = await runbook(cmd("3.1/verify"), subst);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toContain("Errors:    0");
    const ff = await runbook(cmd("3.1/fail-fast"), subst);
    expect(ff.code, ff.out).toBe(0);

    const sc = await runbook(cmd("3.2/scan"), subst);
    expect(sc.code, sc.out).toBe(0);
    expect(sc.out).toMatch(/Records: +190\n/);
    expect(sc.out).toMatch(/Offset range: +0\.\.189\n/);
    expect(sc.out).toMatch(/CRC status: +all batches OK\n/);
    expect(sc.out).toMatch(/^ {2}32 +0\.\.9 +10 .* OK$/m);

    // The cron entry's command (everything after the five schedule fields), as written.
    const cron = cmd("3.3/cron").replace(/^(\S+\s+){5}/, "");
    const cr = await runbook(cron, subst);
    expect(cr.code, cr.cmd + cr.out + cr.err).toBe(0);
    expect(readFileSync(join(s.root, "lance-verify.log"), "utf8")).toContain("✓ All data verified");
    expect(await stop(s.lance)).toBe(0);
  });
});

describe("runbook 4.1 truncate corrupt tail", () => {
  it("half a batch appended to the active segment: lnc scan, lnc repair, clean restart; and the server cuts a torn tail itself", { timeout: 60_000 }, async () => {
    const s = await populated("4-1");
    expect(await stop(s.lance)).toBe(0);
    const active = join(s.topicDir, segments(s.topicDir).at(-1)!);
    const clean = size(active);
    const { batches } = await scanJson(active);
    const last = batches.at(-1)!;
    // A copy of the data dir for the server's own path, with garbage appended instead.
    const other = join(s.root, "other", "lance");
    cpSync(s.data, other, { recursive: true });
    const otherToml = join(s.root, "other.toml");
    writeFileSync(otherToml, readFileSync(s.toml, "utf8").replace(s.data, other));

    // Half of a batch as a crash mid-append leaves it.
    const half = readFileSync(active).subarray(last.position, last.position + Math.floor(last.size / 2));
    appendFileSync(active, half);
    const subst = { ...s.subst, "<segment>": stem(active) };

    // 1. Find the last valid record.
    const sc = await runbook(cmd("4.1/scan"), subst);
    expect(sc.code, sc.out).toBe(1);
    expect(sc.out).toContain("LNC_TORN_TAIL");
    expect(sc.out).toContain(`Last valid offset before the damage: 399 (byte ${clean})`);
    expect(sc.out).toContain("The damage is at the tail");
    // 3. Truncate using repair.
    const rep = await runbook(cmd("4.1/repair"), subst);
    expect(rep.code, rep.out).toBe(0);
    expect(rep.out).toContain(`truncate at byte ${clean}`);
    expect(rep.out).toContain("kept:     2 batches, 20 records, offsets 380..399");
    expect(size(active)).toBe(clean);
    const v = await runbook(cmd("3.1/verify"), subst);
    expect(v.code, v.out).toBe(0);
    let l = await startLance(["--config", s.toml]);
    let c = await consumeJson(l.port, TOPIC);
    expect(c.records.map((r) => r.value)).toEqual(s.acked);
    expect(await stop(l)).toBe(0);

    // The server's own path: garbage after the last batch is cut at start, with a log line.
    const otherActive = join(other, "segments", TOPIC, basename(active));
    appendFileSync(otherActive, Buffer.alloc(60, 0x6f));
    l = await startLance(["--config", otherToml]);
    const logs = l.logs.join("\n");
    expect(logs).toContain(`truncated torn tail of ${otherActive}: 60 bytes after byte ${clean} cut (trailing_garbage)`);
    expect(size(otherActive)).toBe(clean);
    // Appends continue right after the last good batch.
    const more = await produce(l.port, 1, TOPIC, 1, 10, 400);
    c = await consumeJson(l.port, TOPIC);
    expect(c.records.map((r) => r.value)).toEqual([...s.acked, ...more]);
    expect(await stop(l)).toBe(0);
  });
});

describe("runbook 4.2 remove corrupt segment (quarantine)", () => {
  it("mv to quarantine/, rebuild-index records the gap, verify-data warns, the server starts, a consumer reports the skipped range", { timeout: 60_000 }, async () => {
    const s = await populated("4-2");
    expect(await stop(s.lance)).toBe(0);
    const segs = segments(s.topicDir);
    const seg = segs[1]!;
    const from = Number(seg.split("_")[0]);
    const to = Number(segs[2]!.split("_")[0]) - 1;
    const subst = { ...s.subst, "<segment>": stem(seg) };

    // The server created {data}/quarantine/ when it started, so the runbook's `mv` works as written.
    expect(existsSync(join(s.data, "quarantine"))).toBe(true);
    // 1. Backup the corrupt segment.
    const mv = await runbook(cmd("4.2/mv"), subst);
    expect(mv.code, mv.err).toBe(0);
    expect(existsSync(join(s.data, "quarantine", seg))).toBe(true);
    // 3. Rebuild index to reflect changes.
    const rb = await runbook(cmd("4.2/rebuild"), subst);
    expect(rb.code, rb.out).toBe(0);
    expect(rb.out).toContain(`gap ${from}..${to} (quarantined): consumers skip these offsets`);

    const v = await runbook(cmd("3.1/verify"), subst);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toContain(`LNC_OFFSET_GAP: offsets ${from}..${to} before this segment are a gap (quarantined segment)`);
    expect(v.out).toContain("✓ All data verified (1 warning)");

    const l = await startLance(["--config", s.toml]);
    const c = await consumeJson(l.port, TOPIC);
    expect(c.run.code).toBe(0);
    expect(c.gaps).toEqual([{ from, to, count: to - from + 1 }]);
    expect(c.run.err).toContain(`warning: offsets ${from}..${to} of ${TOPIC} were skipped`);
    expect(c.records.map((r) => r.offset)).toEqual(Array.from({ length: 400 }, (_, i) => i).filter((o) => o < from || o > to));
    expectValuesMatchOffsets(c.records);
    // New writes never reuse the quarantined offsets.
    const more = await produce(l.port, 1, TOPIC, 1, 10, 400);
    const c2 = await consumeJson(l.port, TOPIC);
    expect(c2.records.slice(-10).map((r) => r.value)).toEqual(more);
    expect(await stop(l)).toBe(0);
  });
});

describe("runbook 6.2 (standalone part), 7.1, 7.2 backup and restore", () => {
  it.skipIf(!HAVE_JQ)("lance --standalone; export loop via list-topics | jq; wipe; import each; verify-data; restart; every record and offset identical", { timeout: 60_000 }, async () => {
    const { root, data } = tempRoot("7");
    mkdirSync(join(root, "backup"));
    const subst: Record<string, string> = { "/data/lance": data, "/backup": join(root, "backup") };
    // 6.2 step 1: a standalone node on the data dir.
    const start = () => startLance(substitute(cmd("6.2/standalone"), subst).split(" ").slice(1));
    let l = await start();
    const topics = ["orders", "events"];
    const before: Record<string, Array<{ offset: number; value: string }>> = {};
    for (const [i, t] of topics.entries()) {
      const id = await createTopic(l.port, t);
      await produce(l.port, id, t, 5 + i, 4);
      before[t] = (await consumeJson(l.port, t)).records;
      expect(before[t]!.length).toBe((5 + i) * 4);
    }

    // 7.1 export a single topic, then every topic with the loop (while the server runs).
    const one = await runbook(cmd("7.1/export"), { ...subst, "<topic_name>": "orders" });
    expect(one.code, one.out + one.err).toBe(0);
    expect(one.out).toContain("✓ Export completed");
    rmSync(join(root, "backup", "orders.lance"));
    const loop = await runbook(cmd("7.1/loop"), { ...subst, "localhost:1992": `localhost:${l.port}` });
    expect(loop.code, loop.cmd + loop.out + loop.err).toBe(0);
    expect(readdirSync(join(root, "backup")).sort()).toEqual(["events.lance", "orders.lance"]);
    expect(await stop(l)).toBe(0);

    // Total loss: the data dir wiped (6.1 step 4's command).
    const wipe = await runbook(cmd("6.1/wipe"), subst);
    expect(wipe.code).toBe(0);
    expect(readdirSync(data)).toEqual([]);

    // 7.2 restore each topic and verify it (6.2 steps 2-3: "repeat for all topics").
    for (const t of topics) {
      const imp = await runbook(cmd("7.2/import"), { ...subst, "<topic_name>": t });
      expect(imp.code, imp.out + imp.err).toBe(0);
      expect(imp.out).toContain("✓ Every checksum verified; the topic is in place");
      const v = await runbook(cmd("7.2/verify"), { ...subst, "<topic_name>": t });
      expect(v.code, v.out).toBe(0);
    }

    // 6.2 step 4 (standalone): restart; the imported topics are loaded and read back identical.
    l = await start();
    for (const t of topics) {
      const c = await consumeJson(l.port, t);
      expect(c.records).toEqual(before[t]);
      expect(c.gaps).toEqual([]);
    }
    expect(await stop(l)).toBe(0);
  });
});

describe("runbook 8.2 read-only mode", () => {
  it('echo "read_only = true" >> lance.toml, restart with --config: writes refused with READ_ONLY, reads served', { timeout: 60_000 }, async () => {
    const { root, data } = tempRoot("8-2");
    const toml = join(root, "lance.toml");
    // packaging/lance.toml as shipped, pointed at the test's data dir (listeners are overridden by flags).
    writeFileSync(toml, readFileSync(join(REPO, "packaging", "lance.toml"), "utf8").split("/data/lance").join(data));
    const subst = { "/etc/lance/lance.toml": toml };
    let l = await startLance(["--config", toml]);
    const id = await createTopic(l.port, TOPIC);
    const acked = await produce(l.port, id, TOPIC, 3, 5);
    expect(await stop(l)).toBe(0);

    const echo = await runbook(cmd("8.2/echo"), subst);
    expect(echo.code).toBe(0);
    expect(readFileSync(toml, "utf8").endsWith('read_only = true\n')).toBe(true);
    l = await startLance(["--config", toml]);
    expect(l.logs.join("\n")).toMatch(/read_only found inside \[\w+\] \(appended after that table\); applied to the whole server/);

    const srv = `--server 127.0.0.1:${l.port}`;
    const p = await runbook(`lnc produce ${srv} --topic ${TOPIC} --data nope`, {});
    expect(p.code, p.out + p.err).not.toBe(0);
    expect(p.out + p.err).toContain("READ_ONLY");
    const ct = await runbook(`lnc create-topic ${srv} --name other`, {});
    expect(ct.code).not.toBe(0);
    expect(ct.out + ct.err).toContain("READ_ONLY");
    const c = await consumeJson(l.port, TOPIC);
    expect(c.records.map((r) => r.value)).toEqual(acked);
    const lt = await runbook(`lnc list-topics ${srv}`, {});
    expect(lt.code).toBe(0);
    expect(lt.out).toContain(`"name": "${TOPIC}"`);
    expect(await stop(l)).toBe(0);
  });
});

// The cluster sections (5, 6.1, 6.2 steps 4-5, 8.1) are in runbook-cluster.test.ts.
