/**
 * The capture bench's painter, a child process so that its work is not counted as capture cost:
 * paints a desktop-like screen on the X display, then every 1/fps seconds repaints a share of the
 * tiles with new content, until its stdin closes. Says `ready` on stdout once the first screen is
 * painted.
 */
import { XPainter } from '../../test/clients/x11-support.js';
import { desktopTile, prng } from './content.js';

const [display = ':0', fpsArg = '10', shareArg = '0.1', tileArg = '64'] = process.argv.slice(2);
const fps = Number(fpsArg);
const share = Number(shareArg);
const tile = Number(tileArg);

const painter = await XPainter.connect(display);
const cols = Math.ceil(painter.width / tile);
const rows = Math.ceil(painter.height / tile);
const total = cols * rows;

function paint(index: number, version: number): void {
  const x = (index % cols) * tile;
  const y = Math.floor(index / cols) * tile;
  const w = Math.min(tile, painter.width - x);
  const h = Math.min(tile, painter.height - y);
  painter.putImage(x, y, w, h, desktopTile(index, version, w, h));
}

for (let i = 0; i < total; i++) paint(i, 0);
await painter.sync();
process.stdout.write('ready\n');

const rnd = prng(42);
let version = 0;
const perTick = Math.max(1, Math.round(total * share));
const timer = setInterval(() => {
  version++;
  const picked = new Set<number>();
  while (picked.size < perTick) picked.add(Math.floor(rnd() * total));
  for (const i of picked) paint(i, version);
}, 1000 / fps);

process.stdin.resume();
process.stdin.on('end', () => {
  clearInterval(timer);
  painter.close();
  process.stdin.pause();
});
