/**
 * System information (docs/spec/session-tools.md D): collected from this real machine, so the
 * assertions compare with what Node itself reports; the parsers of the non-Linux paths (ps, df,
 * who) are checked on captured output.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import {
  type CategoryError,
  collectSysinfo,
  DEFAULT_PROCESSES,
  parseDfOutput,
  parseMountInfo,
  parseProcStat,
  parsePsOutput,
  parseWhoOutput,
  SYSINFO_CATEGORIES,
  SysinfoErrorCodes,
  type Unavailable,
} from '../../src/clients/sysinfo.js';

const linux = process.platform === 'linux';

/** The category's data, failing the test if it is an error entry, unavailable, or absent. */
function data<T extends object>(
  value: T | CategoryError | Unavailable | undefined,
  name: string,
): T {
  assert.ok(value !== undefined, `${name} missing`);
  assert.ok(!('error' in value), `${name}: ${(value as CategoryError).error}`);
  assert.ok(!('unavailable' in value), `${name}: ${(value as Unavailable).unavailable}`);
  return value as T;
}

test('collects every category by default, as plain JSON, stamped with when it was collected', async () => {
  const before = Date.now();
  const snap = await collectSysinfo();
  assert.deepEqual(Object.keys(snap.categories).sort(), [...SYSINFO_CATEGORIES].sort());
  const at = Date.parse(snap.collectedAt);
  assert.ok(at >= before - 1000 && at <= Date.now(), snap.collectedAt);
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
});

test('the os category reports this machine as Node sees it', async () => {
  const o = data((await collectSysinfo(['os'])).categories.os, 'os');
  assert.equal(o.platform, process.platform);
  assert.equal(o.release, os.release());
  assert.equal(o.version, os.version());
  assert.equal(o.arch, os.arch());
  assert.equal(o.hostname, os.hostname());
  assert.equal(typeof o.uptimeSeconds, 'number');
  assert.ok(o.uptimeSeconds > 0);
});

test('the hardware category counts every core and reports memory in bytes', async () => {
  const h = data((await collectSysinfo(['hardware'])).categories.hardware, 'hardware');
  assert.equal(h.cores, os.cpus().length);
  assert.equal(h.cpuModel, os.cpus()[0]?.model.trim() ?? null);
  assert.ok(h.cpuSpeedMhz === null || h.cpuSpeedMhz > 0);
  assert.equal(h.totalMemoryBytes, os.totalmem());
  assert.ok(h.freeMemoryBytes > 0 && h.freeMemoryBytes <= h.totalMemoryBytes);
  assert.equal(h.loadAverage.length, 3);
});

test('the network category lists every interface with its addresses and no loopback MAC', async () => {
  const n = data((await collectSysinfo(['network'])).categories.network, 'network');
  const expected = os.networkInterfaces();
  assert.deepEqual(n.interfaces.map((i) => i.name).sort(), Object.keys(expected).sort());
  for (const i of n.interfaces) {
    assert.ok(i.addresses.length > 0, i.name);
    for (const a of i.addresses) {
      assert.equal(typeof a.address, 'string');
      assert.ok(a.family === 'IPv4' || a.family === 'IPv6');
    }
    if (i.addresses.every((a) => a.internal)) assert.equal(i.mac, null, i.name);
  }
});

test('the processes category includes this test process, with its name, CPU and resident memory', async (t) => {
  if (!linux) return t.skip('the /proc path is Linux only');
  // sorted by memory and long enough that this node process is in the list on a busy machine
  const p = data(
    (await collectSysinfo(['processes'], { processSort: 'memory', maxProcesses: 500 })).categories
      .processes,
    'processes',
  );
  assert.equal(p.source, 'proc');
  const self = p.list.find((e) => e.pid === process.pid);
  assert.ok(self, `pid ${process.pid} not among ${p.list.length} of ${p.total}`);
  assert.equal(self.ppid, process.ppid);
  assert.equal(self.name, 'node');
  assert.ok(self.rssBytes > 1024 * 1024);
  assert.ok(self.cpuPercent >= 0);
});

test('the process list is bounded and sorted by CPU, busiest first, by default', async (t) => {
  if (!linux) return t.skip('the /proc path is Linux only');
  const p = data((await collectSysinfo(['processes'])).categories.processes, 'processes');
  assert.equal(p.sortedBy, 'cpu');
  assert.ok(p.list.length <= DEFAULT_PROCESSES);
  assert.equal(p.list.length, Math.min(DEFAULT_PROCESSES, p.total));
  for (let i = 1; i < p.list.length; i++)
    assert.ok(p.list[i - 1]!.cpuPercent >= p.list[i]!.cpuPercent);
  const few = data(
    (await collectSysinfo(['processes'], { maxProcesses: 3 })).categories.processes,
    'processes',
  );
  assert.equal(few.list.length, Math.min(3, few.total));
});

test('the disks category has at least one real disk with size, used and free bytes', async () => {
  const d = data((await collectSysinfo(['disks'])).categories.disks, 'disks');
  assert.ok(d.disks.length > 0);
  for (const disk of d.disks) {
    assert.ok(disk.sizeBytes > 0, disk.mountPoint);
    assert.ok(disk.usedBytes >= 0 && disk.usedBytes <= disk.sizeBytes, disk.mountPoint);
    assert.ok(disk.freeBytes >= 0 && disk.freeBytes <= disk.sizeBytes, disk.mountPoint);
  }
  if (linux) assert.ok(d.disks.some((disk) => disk.mountPoint === '/'));
});

test('the users category names the current user and lists logged-in users', async () => {
  const u = data((await collectSysinfo(['users'])).categories.users, 'users');
  const me = os.userInfo();
  assert.equal(u.current.username, me.username);
  assert.equal(u.current.uid, me.uid);
  // who may list nobody (no utmp in a container), but on Linux it is there to ask
  if (linux) assert.ok(Array.isArray(u.loggedIn));
});

test('requesting a subset collects only that subset', async () => {
  const snap = await collectSysinfo(['hardware', 'os', 'os']);
  assert.deepEqual(Object.keys(snap.categories), ['hardware', 'os']);
});

test('an unknown category gets a coded error entry naming the known ones, and the rest still collect', async () => {
  const snap = await collectSysinfo(['os', 'bogus', '__proto__']);
  data(snap.categories.os, 'os');
  const bogus = snap.categories.bogus as CategoryError;
  assert.equal(bogus.code, SysinfoErrorCodes.UNKNOWN_CATEGORY);
  assert.match(bogus.error, /"bogus"/);
  assert.match(bogus.error, /os, hardware, network, processes, disks, users/);
  // an own property, not the prototype: the name is data, never a way into Object.prototype
  const proto = Object.getOwnPropertyDescriptor(snap.categories, '__proto__');
  assert.ok(proto);
  assert.equal((proto.value as CategoryError).code, SysinfoErrorCodes.UNKNOWN_CATEGORY);
});

test('parses /proc/<pid>/stat whose command name holds spaces and parentheses', () => {
  const line =
    '4242 (tmux: server (1)) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 25 0 0 20 0 1 0 777 12345678 321 18446744073709551615';
  assert.deepEqual(parseProcStat(line), {
    pid: 4242,
    ppid: 1,
    name: 'tmux: server (1)',
    ticks: 175,
    rssPages: 321,
  });
  assert.equal(parseProcStat('garbage'), null);
});

test('parses ps output with full-path command names that hold spaces', () => {
  const text = [
    '    1     0   0.0  12000 /sbin/launchd',
    '  512     1  12.5 204800 /Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
    '',
  ].join('\n');
  assert.deepEqual(parsePsOutput(text), [
    { pid: 1, ppid: 0, cpuPercent: 0, rssBytes: 12000 * 1024, name: 'launchd' },
    { pid: 512, ppid: 1, cpuPercent: 12.5, rssBytes: 204800 * 1024, name: 'Google Chrome' },
  ]);
});

test('mountinfo keeps storage filesystems once per device and drops pseudo ones', () => {
  const text = [
    '22 27 0:21 / /proc rw,relatime - proc proc rw',
    '25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw',
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '40 27 254:0 /var/lib/docker/x/hosts /etc/hosts rw - ext4 /dev/vda rw',
    '41 27 8:17 / /mnt/my\\040data rw - xfs /dev/sdb1 rw',
    '42 27 0:50 / /var/lib/docker/overlay2/a/merged rw - overlay overlay rw',
  ].join('\n');
  assert.deepEqual(parseMountInfo(text), [
    { mountPoint: '/', device: '/dev/vda', fsType: 'ext4' },
    { mountPoint: '/mnt/my data', device: '/dev/sdb1', fsType: 'xfs' },
    { mountPoint: '/var/lib/docker/overlay2/a/merged', device: 'overlay', fsType: 'overlay' },
  ]);
});

test('parses df -kP output whose mount points hold spaces', () => {
  const text = [
    'Filesystem     1024-blocks      Used Available Capacity Mounted on',
    '/dev/disk3s1s1   482797652  10000000 300000000     4%    /',
    '/dev/disk4s1        100000     50000     50000    50%    /Volumes/My Disk',
  ].join('\n');
  assert.deepEqual(parseDfOutput(text), [
    { device: '/dev/disk3s1s1', mountPoint: '/', fsType: '' },
    { device: '/dev/disk4s1', mountPoint: '/Volumes/My Disk', fsType: '' },
  ]);
});

test('parses who output with and without a remote host', () => {
  const text = [
    'alice    pts/0        2024-05-01 09:12 (203.0.113.7)',
    'bob      console      May  1 08:00',
    '',
  ].join('\n');
  assert.deepEqual(parseWhoOutput(text), [
    { name: 'alice', terminal: 'pts/0', since: '2024-05-01 09:12', host: '203.0.113.7' },
    { name: 'bob', terminal: 'console', since: 'May  1 08:00', host: null },
  ]);
});
